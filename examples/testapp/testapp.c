/* testapp: an app whose behaviour each release sets, for tests and benchmarks.
 *
 * At init it reads <release>/testapp.conf (optional; absent means all defaults): one "key value"
 * per line, '#' starts a comment. Keys (all non-negative integers, default 0 = off):
 *   load_ms N           sleep N ms during init (a slow load)
 *   load_fail 1         init fails with "configured to fail"
 *   latency_ms N        sleep N ms in every request
 *   crash_on_request N  abort() on the Nth request this worker serves (1 = the first)
 *   worker_init_fail 1  each worker's post-fork init fails (the worker must exit unready)
 *   hang_on_request N   sleep forever on the Nth request this worker serves
 *   error_on_request N  handle returns an error on the Nth request (the host answers 500)
 *   error_every N       ... and on every Nth request (an error rate of 1/N)
 *   preload_mib N       allocate and touch N MiB at load, kept until unload (page-sharing tests)
 *   body_bytes N        the response body is exactly N bytes: the greeting, then 'x' padding
 * An unknown key or a malformed value fails the load with a message naming the line.
 * A request target with the query parameter ms=N (e.g. "/?ms=500") sleeps N ms instead of
 * latency_ms; leak_mib=N allocates and touches N MiB that the worker never frees (a leak, for
 * memory limits and the OOM killer); leak_fds=N opens N descriptors (of /dev/null) that the worker
 * never closes, fewer if it runs out (a leak, for descriptor exhaustion). Responses are 200
 * "testapp <release> pid <pid>\n"; with sum=1 in the query, the greeting ends " body <bytes> fnv
 * <FNV-1a 64 of the body, 16 hex digits>\n" instead. Takes no arguments. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "real/app/zygote_app.h"

ZYGOTE_APP_DEFINE_ABI_VERSION

struct testapp {
  const struct zygote_host* host;
  unsigned long long latency_ms;
  unsigned long long crash_on_request;
  unsigned long long worker_init_fail;
  unsigned long long hang_on_request;
  unsigned long long error_on_request;
  unsigned long long error_every;
  unsigned long long body_bytes;
  unsigned long long served; /* requests this process has served */
  unsigned char* preload;    /* preload_mib MiB, touched */
  char error[256];           /* last failure, for the host's log */
};

static void sleep_ms(unsigned long long ms) {
  struct timespec left;
  left.tv_sec = (time_t)(ms / 1000u);
  left.tv_nsec = (long)(ms % 1000u) * 1000000L;
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

/* Parses a decimal non-negative integer filling all of s; returns 0 on success. */
static int parse_u64(const char* s, unsigned long long* out) {
  char* end = NULL;
  if (*s < '0' || *s > '9') return -1;
  errno = 0;
  *out = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0') return -1;
  return 0;
}

/* Reads <release>/testapp.conf into app; on failure writes the reason to err and returns -1. */
static int read_conf(struct testapp* app, const char* release, char* err, size_t err_size) {
  char path[4096];
  char line[512];
  unsigned long long load_ms = 0, load_fail = 0, preload_mib = 0;
  int lineno = 0;
  FILE* f;
  if ((size_t)snprintf(path, sizeof path, "%s/testapp.conf", release) >= sizeof path) {
    snprintf(err, err_size, "testapp: release path too long");
    return -1;
  }
  f = fopen(path, "r");
  if (f == NULL) {
    if (errno == ENOENT) return 0;
    snprintf(err, err_size, "testapp: cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  while (fgets(line, sizeof line, f) != NULL) {
    char* key;
    char* value;
    char* extra;
    char* hash = strchr(line, '#');
    unsigned long long v = 0;
    ++lineno;
    if (strchr(line, '\n') == NULL && !feof(f)) {
      snprintf(err, err_size, "testapp: %s line %d is too long", path, lineno);
      fclose(f);
      return -1;
    }
    if (hash != NULL) *hash = '\0';
    key = strtok(line, " \t\r\n");
    if (key == NULL) continue;
    value = strtok(NULL, " \t\r\n");
    extra = value != NULL ? strtok(NULL, " \t\r\n") : NULL;
    if (value == NULL || extra != NULL || parse_u64(value, &v) != 0) {
      snprintf(err, err_size, "testapp: %s line %d: expected \"%s <non-negative integer>\"", path,
               lineno, key);
      fclose(f);
      return -1;
    }
    if (strcmp(key, "load_ms") == 0) {
      load_ms = v;
    } else if (strcmp(key, "load_fail") == 0) {
      load_fail = v;
    } else if (strcmp(key, "latency_ms") == 0) {
      app->latency_ms = v;
    } else if (strcmp(key, "crash_on_request") == 0) {
      app->crash_on_request = v;
    } else if (strcmp(key, "worker_init_fail") == 0) {
      app->worker_init_fail = v;
    } else if (strcmp(key, "hang_on_request") == 0) {
      app->hang_on_request = v;
    } else if (strcmp(key, "error_on_request") == 0) {
      app->error_on_request = v;
    } else if (strcmp(key, "error_every") == 0) {
      app->error_every = v;
    } else if (strcmp(key, "preload_mib") == 0) {
      preload_mib = v;
    } else if (strcmp(key, "body_bytes") == 0) {
      app->body_bytes = v;
    } else {
      snprintf(err, err_size, "testapp: %s line %d: unknown key \"%s\"", path, lineno, key);
      fclose(f);
      return -1;
    }
  }
  fclose(f);
  if (load_ms > 0) sleep_ms(load_ms);
  if (load_fail != 0) {
    snprintf(err, err_size, "testapp: configured to fail");
    return -1;
  }
  if (preload_mib > 0) {
    size_t bytes;
    if (preload_mib > SIZE_MAX / (1024u * 1024u)) {
      snprintf(err, err_size, "testapp: preload_mib %llu is too large", preload_mib);
      return -1;
    }
    bytes = (size_t)preload_mib * 1024u * 1024u;
    app->preload = (unsigned char*)malloc(bytes);
    if (app->preload == NULL) {
      snprintf(err, err_size, "testapp: cannot allocate preload_mib %llu", preload_mib);
      return -1;
    }
    memset(app->preload, 0xa5, bytes); /* non-zero, so every page is really resident */
  }
  return 0;
}

/* The query parameter `name` ("ms=", "sum=") of target as a number, or -1 if absent or
 * malformed. */
static long long query_number(const char* target, size_t len, const char* name) {
  const size_t name_len = strlen(name);
  const char* q = memchr(target, '?', len);
  const char* end = target + len;
  if (q == NULL) return -1;
  ++q;
  while (q < end) {
    const char* amp = memchr(q, '&', (size_t)(end - q));
    const char* stop = amp != NULL ? amp : end;
    if ((size_t)(stop - q) > name_len && memcmp(q, name, name_len) == 0) {
      long long v = 0;
      const char* p = q + name_len;
      for (; p < stop; ++p) {
        if (*p < '0' || *p > '9' || v > 100000000LL) return -1;
        v = v * 10 + (*p - '0');
      }
      return v;
    }
    q = stop + 1;
  }
  return -1;
}

static int testapp_handle(void* state, const struct zygote_request* req,
                          struct zygote_response* resp) {
  struct testapp* app = (struct testapp*)state;
  const struct zygote_host* host = app->host;
  char greeting[256];
  size_t greeting_len;
  long long ms;
  int n;
  ++app->served;
  if (app->crash_on_request != 0 && app->served == app->crash_on_request) abort();
  if (app->hang_on_request != 0 && app->served == app->hang_on_request) {
    for (;;) sleep(3600);
  }
  if ((app->error_on_request != 0 && app->served == app->error_on_request) ||
      (app->error_every != 0 && app->served % app->error_every == 0)) {
    host->write(resp, "partial", 7); /* the host must discard it */
    snprintf(app->error, sizeof app->error, "configured to fail request %llu", app->served);
    return 1;
  }
  {
    const long long leak = query_number(req->target, req->target_len, "leak_mib=");
    if (leak > 0 && (unsigned long long)leak <= SIZE_MAX / (1024u * 1024u)) {
      const size_t bytes = (size_t)leak * 1024u * 1024u;
      unsigned char* lost = (unsigned char*)malloc(bytes);
      if (lost != NULL) memset(lost, 0xa5, bytes); /* touched: resident, never freed */
    }
  }
  {
    long long fds = query_number(req->target, req->target_len, "leak_fds=");
    for (; fds > 0; --fds) {
      if (open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) break; /* out of them: stop there */
    }
  }
  ms = query_number(req->target, req->target_len, "ms=");
  if (ms >= 0) {
    sleep_ms((unsigned long long)ms);
  } else if (app->latency_ms > 0) {
    sleep_ms(app->latency_ms);
  }
  if (query_number(req->target, req->target_len, "sum=") == 1) {
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 */
    size_t i;
    for (i = 0; i < req->body_len; ++i) {
      h ^= (unsigned char)req->body[i];
      h *= 1099511628211ULL;
    }
    n = snprintf(greeting, sizeof greeting, "testapp %s pid %ld body %zu fnv %016llx\n",
                 host->release_name, (long)getpid(), req->body_len, (unsigned long long)h);
  } else {
    n = snprintf(greeting, sizeof greeting, "testapp %s pid %ld\n", host->release_name,
                 (long)getpid());
  }
  if (n < 0) {
    snprintf(app->error, sizeof app->error, "cannot format the greeting");
    return 1;
  }
  greeting_len = (size_t)n < sizeof greeting ? (size_t)n : sizeof greeting - 1;
  if (host->set_status(resp, 200) != 0 ||
      host->add_header(resp, "Content-Type", 12, "text/plain", 10) != 0) {
    snprintf(app->error, sizeof app->error, "the host refused the status or a header");
    return 1;
  }
  if (app->body_bytes == 0) return host->write(resp, greeting, greeting_len);
  {
    unsigned long long left = app->body_bytes;
    char pad[4096];
    size_t first = greeting_len < left ? greeting_len : (size_t)left;
    if (host->write(resp, greeting, first) != 0) goto out_of_memory;
    left -= first;
    memset(pad, 'x', sizeof pad);
    while (left > 0) {
      size_t chunk = left < sizeof pad ? (size_t)left : sizeof pad;
      if (host->write(resp, pad, chunk) != 0) goto out_of_memory;
      left -= chunk;
    }
  }
  return 0;
out_of_memory:
  snprintf(app->error, sizeof app->error, "the host could not take a %llu-byte body",
           app->body_bytes);
  return 1;
}

static int testapp_worker_init(void* state) {
  struct testapp* app = (struct testapp*)state;
  app->served = 0; /* "the Nth request this worker serves" */
  if (app->worker_init_fail != 0) {
    snprintf(app->error, sizeof app->error, "testapp: worker init configured to fail");
    return 1;
  }
  return 0;
}

static const char* testapp_last_error(void* state) {
  const struct testapp* app = (const struct testapp*)state;
  return app->error[0] != '\0' ? app->error : NULL;
}

static void testapp_destroy(void* state) {
  struct testapp* app = (struct testapp*)state;
  free(app->preload);
  free(app);
}

ZYGOTE_APP_EXPORT int zygote_app_init(const struct zygote_host* host, int argc,
                                      const char* const* argv, struct zygote_app* out) {
  struct testapp* app;
  (void)argv;
  if (argc != 0) {
    snprintf(host->error, host->error_size, "testapp takes no arguments (got %d)", argc);
    return 1;
  }
  app = (struct testapp*)calloc(1, sizeof *app);
  if (app == NULL) {
    snprintf(host->error, host->error_size, "testapp: out of memory");
    return 1;
  }
  app->host = host;
  if (read_conf(app, host->release_path, host->error, host->error_size) != 0) {
    testapp_destroy(app);
    return 1;
  }
  out->abi_version = ZYGOTE_APP_ABI_VERSION;
  out->state = app;
  out->handle = testapp_handle;
  out->worker_init = testapp_worker_init;
  out->last_error = testapp_last_error;
  out->destroy = testapp_destroy;
  return 0;
}
