/* hello: the bundled example app. Answers every request 200 "Hello from <release>\n", where
 * <release> is the release directory's name, which the host passes in zygote_host.release_name.
 * Takes no arguments. */
#include <stdio.h>
#include <string.h>

#include "real/app/zygote_app.h"

ZYGOTE_APP_DEFINE_ABI_VERSION

struct hello {
  const struct zygote_host* host;
  char body[256];
  size_t body_len;
};

static struct hello the_app; /* one per loaded object; the zygote loads the object once */

static int hello_handle(void* state, const struct zygote_request* req,
                        struct zygote_response* resp) {
  const struct hello* h = (const struct hello*)state;
  (void)req;
  if (h->host->set_status(resp, 200) != 0) return 1;
  if (h->host->add_header(resp, "Content-Type", 12, "text/plain; charset=utf-8", 25) != 0) return 1;
  return h->host->write(resp, h->body, h->body_len);
}

ZYGOTE_APP_EXPORT int zygote_app_init(const struct zygote_host* host, int argc,
                                      const char* const* argv, struct zygote_app* out) {
  int n;
  (void)argv;
  if (argc != 0) {
    snprintf(host->error, host->error_size, "hello takes no arguments (got %d)", argc);
    return 1;
  }
  the_app.host = host;
  n = snprintf(the_app.body, sizeof the_app.body, "Hello from %s\n", host->release_name);
  if (n < 0 || (size_t)n >= sizeof the_app.body) {
    snprintf(host->error, host->error_size, "release name too long: %s", host->release_name);
    return 1;
  }
  the_app.body_len = (size_t)n;
  out->abi_version = ZYGOTE_APP_ABI_VERSION;
  out->state = &the_app;
  out->handle = hello_handle;
  return 0;
}
