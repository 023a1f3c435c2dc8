/* zygote_app.h: the C ABI between the zygote server and a native application (a shared object).
 * The native counterpart of Python's get_application(). Plain C11; also compiles as C++.
 *
 * Life cycle. The zygote dlopen()s <release>/<APP>.so once and calls zygote_app_init(), which
 * fills a struct zygote_app. Every worker forked from that zygote then calls worker_init (if set)
 * once, and handle once per request, one request at a time.
 *
 * Ownership rule: the host owns every byte it hands out and every byte of the response.
 *  - Request views (struct zygote_request and what it points to) are valid only during handle().
 *  - The app builds the response only through the host's functions (set_status, add_header,
 *    write); each copies its arguments before returning, so the app may pass stack or temporary
 *    buffers and keeps ownership of its own memory. The app never frees host memory and the host
 *    never frees app memory: no allocator crosses the boundary, so bodies of any size neither
 *    leak nor double-free.
 *  - The struct zygote_host passed to init stays valid (same address) until destroy() returns.
 *  - State the app allocates (zygote_app.state) is the app's; destroy (optional) releases it.
 *
 * Errors. init returns 0 on success. On failure it returns non-zero, writes a NUL-terminated,
 * one-sentence reason into host->error (host->error_size bytes, ZYGOTE_APP_ERROR_SIZE, including
 * the NUL; longer messages are truncated), and releases what it acquired: the host unloads the
 * object. handle returns 0 on success; non-zero makes the host discard whatever was written and
 * answer 500 with a short generic body (the reason, from last_error if set, goes to the log).
 *
 * Versioning. The object exports both symbols below. The host refuses an object whose
 * zygote_app_abi_version differs from its own before calling init, and again if init leaves
 * out->abi_version different. Structs start with struct_size (set by whoever fills them) so that
 * fields can later be appended without a version bump; readers check struct_size before reading
 * an appended field.
 *
 * Example (the whole of a minimal app):
 *
 *   #include "real/app/zygote_app.h"
 *   ZYGOTE_APP_DEFINE_ABI_VERSION
 *   static int handle(void* state, const struct zygote_request* req, struct zygote_response* r) {
 *     const struct zygote_host* host = (const struct zygote_host*)state;
 *     (void)req;
 *     host->set_status(r, 200);
 *     host->add_header(r, "Content-Type", 12, "text/plain", 10);
 *     return host->write(r, "hi\n", 3);
 *   }
 *   ZYGOTE_APP_EXPORT int zygote_app_init(const struct zygote_host* host, int argc,
 *                                         const char* const* argv, struct zygote_app* out) {
 *     (void)argc; (void)argv;
 *     out->abi_version = ZYGOTE_APP_ABI_VERSION;
 *     out->state = (void*)host;
 *     out->handle = handle;
 *     return 0;
 *   }
 */
#ifndef ZYGOTE_APP_H
#define ZYGOTE_APP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZYGOTE_APP_ABI_VERSION 1   /* bumped on any incompatible change to this header */
#define ZYGOTE_APP_ERROR_SIZE 1024 /* bytes in host->error, including the terminating NUL */

#define ZYGOTE_APP_EXPORT __attribute__((visibility("default"))) /* for the exported symbols */

/* Place once at file scope in the app (C or C++): defines the exported zygote_app_abi_version
 * (declared below, which gives it C linkage and default visibility) as this header's version. */
#define ZYGOTE_APP_DEFINE_ABI_VERSION \
  const uint32_t zygote_app_abi_version = ZYGOTE_APP_ABI_VERSION;

struct zygote_header_view {
  const char* name;  /* header name as received; not NUL-terminated */
  size_t name_len;   /* bytes in name */
  const char* value; /* header value, trimmed; not NUL-terminated */
  size_t value_len;  /* bytes in value */
};

struct zygote_request {
  size_t struct_size; /* sizeof(struct zygote_request) as the host has it */
  const char* method; /* "GET", "POST", ...; not NUL-terminated */
  size_t method_len;  /* bytes in method */
  const char* target; /* request target, e.g. "/path?q=1"; not NUL-terminated */
  size_t target_len;  /* bytes in target */
  int http_minor;     /* HTTP/1.x minor version: 0 or 1 */
  const struct zygote_header_view* headers; /* header_count headers, in received order */
  size_t header_count;                      /* entries in headers */
  /* The request body (may contain NULs), valid only during handle(). One larger than the
   * server holds in memory (--body-memory-bytes) is its spool file mapped read-only: read it in
   * order rather than copying it whole, and its pages stay the page cache's. */
  const char* body;
  size_t body_len; /* bytes in body */
};

/* Opaque; owned by the host; valid only during the handle() call it was passed to. */
struct zygote_response;

struct zygote_host {
  size_t struct_size;       /* sizeof(struct zygote_host) as the host has it */
  uint32_t abi_version;     /* the host's ZYGOTE_APP_ABI_VERSION */
  const char* release_path; /* the release directory's canonical path, e.g. /srv/app/releases/B */
  const char* release_name; /* its last path component, e.g. "B" */
  char* error;              /* init writes a NUL-terminated failure reason here */
  size_t error_size;        /* bytes in error (ZYGOTE_APP_ERROR_SIZE) */
  /* Sets the status code (100..999; default 200). Returns 0, or -1 if out of range. */
  int (*set_status)(struct zygote_response* resp, int status);
  /* Appends a header (copied). Returns 0, or -1 if name is empty or either contains CR/LF/NUL. */
  int (*add_header)(struct zygote_response* resp, const char* name, size_t name_len,
                    const char* value, size_t value_len);
  /* Appends len bytes (copied) to the body; call as often as needed. Returns 0, or -1 if out of
   * memory. The host sets Content-Length itself. */
  int (*write)(struct zygote_response* resp, const void* data, size_t len);
};

/* Serves one request into resp. Returns 0, or non-zero for "500, the app failed". */
typedef int (*zygote_handle_fn)(void* state, const struct zygote_request* req,
                                struct zygote_response* resp);
/* Runs once in each freshly forked worker. Returns 0, or non-zero: the worker then answers 500. */
typedef int (*zygote_worker_init_fn)(void* state);
/* The reason for the last failure on this process, NUL-terminated, owned by the app; or NULL. */
typedef const char* (*zygote_last_error_fn)(void* state);
/* Releases state before the host unloads the object. */
typedef void (*zygote_destroy_fn)(void* state);

struct zygote_app {
  size_t struct_size;                /* host sets sizeof(struct zygote_app) before init */
  uint32_t abi_version;              /* app sets ZYGOTE_APP_ABI_VERSION */
  void* state;                       /* app's own pointer, passed back to every function below */
  zygote_handle_fn handle;           /* required */
  zygote_worker_init_fn worker_init; /* optional (NULL: nothing to do) */
  zygote_last_error_fn last_error;   /* optional (NULL: no detail for the log) */
  zygote_destroy_fn destroy;         /* optional (NULL: nothing to release) */
};

/* The symbols the shared object exports. The host zero-fills *out and sets out->struct_size;
 * argv holds argc NUL-terminated strings (the command-line arguments after APP), valid only during
 * the call. */
ZYGOTE_APP_EXPORT extern const uint32_t zygote_app_abi_version;
typedef int (*zygote_app_init_fn)(const struct zygote_host* host, int argc, const char* const* argv,
                                  struct zygote_app* out);
ZYGOTE_APP_EXPORT int zygote_app_init(const struct zygote_host* host, int argc,
                                      const char* const* argv, struct zygote_app* out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZYGOTE_APP_H */
