/* badabi: a test fixture, not an example. Claims an ABI version this server does not speak, so
 * the loader must refuse it before calling its init. */
#include <stdint.h>

#include "real/app/zygote_app.h"

ZYGOTE_APP_EXPORT const uint32_t zygote_app_abi_version = ZYGOTE_APP_ABI_VERSION + 998u;

static int badabi_handle(void* state, const struct zygote_request* req,
                         struct zygote_response* resp) {
  (void)state;
  (void)req;
  (void)resp;
  return 1;
}

ZYGOTE_APP_EXPORT int zygote_app_init(const struct zygote_host* host, int argc,
                                      const char* const* argv, struct zygote_app* out) {
  (void)host;
  (void)argc;
  (void)argv;
  out->abi_version = ZYGOTE_APP_ABI_VERSION + 998u;
  out->handle = badabi_handle;
  return 0;
}
