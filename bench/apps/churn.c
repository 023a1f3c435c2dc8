/* churn: a benchmark app whose requests write into memory it preloaded, as an interpreter's
 * reference counts and garbage collector write into objects loaded before fork.
 *
 * Arguments (zygote-real ... churn ARGS): "preload_mib=N" allocates and touches N MiB at load;
 * "dirty_pages=D" makes every request write one byte into each of D pages of that memory, chosen
 * at random (each worker seeds its own generator, so workers dirty different pages). Every page
 * written in a forked worker becomes its private copy: the erosion of sharing the page-sharing
 * benchmark measures. Answers 200 "churn pid <pid>\n". */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "real/app/zygote_app.h"

ZYGOTE_APP_DEFINE_ABI_VERSION

#define CHURN_PAGE 4096u

struct churn {
  const struct zygote_host* host;
  unsigned char* preload;
  size_t pages;
  unsigned long long dirty_pages;
  uint64_t rng;
};

static uint64_t next_random(uint64_t* s) { /* xorshift64 */
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* "key=N" into *out; returns 1 if arg names key, -1 if it does but N is malformed, 0 otherwise. */
static int parse_arg(const char* arg, const char* key, unsigned long long* out) {
  size_t n = strlen(key);
  char* end = NULL;
  if (strncmp(arg, key, n) != 0 || arg[n] != '=') return 0;
  if (arg[n + 1] < '0' || arg[n + 1] > '9') return -1;
  *out = strtoull(arg + n + 1, &end, 10);
  return *end == '\0' ? 1 : -1;
}

static int churn_handle(void* state, const struct zygote_request* req,
                        struct zygote_response* resp) {
  struct churn* c = (struct churn*)state;
  char body[64];
  unsigned long long i;
  int n;
  (void)req;
  for (i = 0; c->pages > 0 && i < c->dirty_pages; ++i) {
    c->preload[(next_random(&c->rng) % c->pages) * CHURN_PAGE] ^= 1u;
  }
  n = snprintf(body, sizeof body, "churn pid %ld\n", (long)getpid());
  if (n < 0 || c->host->set_status(resp, 200) != 0) return 1;
  return c->host->write(resp, body, (size_t)n);
}

static int churn_worker_init(void* state) {
  struct churn* c = (struct churn*)state;
  c->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
  return 0;
}

static void churn_destroy(void* state) {
  struct churn* c = (struct churn*)state;
  free(c->preload);
  free(c);
}

ZYGOTE_APP_EXPORT int zygote_app_init(const struct zygote_host* host, int argc,
                                      const char* const* argv, struct zygote_app* out) {
  unsigned long long preload_mib = 0;
  struct churn* c = (struct churn*)calloc(1, sizeof *c);
  int i;
  if (c == NULL) {
    snprintf(host->error, host->error_size, "churn: out of memory");
    return 1;
  }
  c->host = host;
  for (i = 0; i < argc; ++i) {
    int a = parse_arg(argv[i], "preload_mib", &preload_mib);
    int b = a != 0 ? 0 : parse_arg(argv[i], "dirty_pages", &c->dirty_pages);
    if (a < 0 || b < 0 || (a == 0 && b == 0)) {
      snprintf(host->error, host->error_size,
               "churn: bad argument \"%s\" (preload_mib=N or dirty_pages=N)", argv[i]);
      free(c);
      return 1;
    }
  }
  if (preload_mib > 0) {
    size_t bytes = (size_t)preload_mib * 1024u * 1024u;
    c->preload = (unsigned char*)malloc(bytes);
    if (c->preload == NULL) {
      snprintf(host->error, host->error_size, "churn: cannot allocate %llu MiB", preload_mib);
      free(c);
      return 1;
    }
    memset(c->preload, 0xa5, bytes); /* non-zero: every page really resident */
    c->pages = bytes / CHURN_PAGE;
  }
  c->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
  out->abi_version = ZYGOTE_APP_ABI_VERSION;
  out->state = c;
  out->handle = churn_handle;
  out->worker_init = churn_worker_init;
  out->destroy = churn_destroy;
  return 0;
}
