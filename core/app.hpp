// Applications and the loaders that bring them into a zygote. The zygote loads one App per version,
// once; every worker forked from it serves requests with that loaded App. Loaders are pluggable:
// native shared objects (real/), simulated apps (sim/), and Python WSGI apps next, without the
// supervisor or the loops knowing which is which.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/types.hpp"

namespace zyg {

struct Header {
  std::string name;
  std::string value;
};

struct AppRequest {
  std::string method;
  std::string target;
  int version_minor = 1;  // HTTP/1.x
  std::vector<Header> headers;
  std::string body;
  // A body larger than the server holds in memory (http::Limits::body_memory_max) is in this file
  // instead, and `body` is empty: body_file_bytes bytes from offset 0 (read them with pread: the
  // descriptor's position is not defined). Open while the app serves the request, closed after.
  // Only apps that ask (App::reads_body_files) see it; for the others the worker reads the file
  // into `body` first.
  int body_file = -1;
  std::uint64_t body_file_bytes = 0;
  // Filled only for apps that ask (App::wants_addresses): who sent it, and where it arrived.
  std::string peer_host;
  std::uint16_t peer_port = 0;
  std::string local_host;
  std::uint16_t local_port = 0;
};

struct AppResponse {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
};

// Where an app's response goes. Either complete() once with the whole response (the server frames
// it, and may leave the rest of it to the front when the client is slow to read), or stream it:
// start() with the status and headers, write() each block as it is produced (each is sent before
// write() returns: nothing is held back), then finish(). Framing is the server's: an app's
// Content-Length is kept (HEAD included) and enforced; without one, HTTP/1.1 gets chunked and
// HTTP/1.0 a close. An app that returns without answering gets a 500 from the server. abort()
// after start() closes the connection, so the client sees a truncated
// response rather than a wrong one. Every call but complete() returns false once the client is gone
// or stalled: stop producing then.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void complete(AppResponse response) = 0;
  virtual bool start(int status, std::vector<Header> headers) = 0;
  virtual bool write(std::string_view block) = 0;
  // Whether write_file() can send a file's bytes without them passing through the app's memory.
  virtual bool sends_files() const { return false; }
  // Part of a started body, like write(): `count` bytes of the open file `fd` from `offset` (its
  // own position is left alone), sent before this returns. False as write() is, and when the
  // file ends before `count`: the response is cut short then (abort() it).
  virtual bool write_file(int fd, std::uint64_t offset, std::uint64_t count) {
    static_cast<void>(fd);
    static_cast<void>(offset);
    static_cast<void>(count);
    return false;
  }
  virtual bool finish() = 0;
  virtual void abort() = 0;
};

// Collects what an app responds into one AppResponse (for apps served whole, and for tests).
class CollectingResponder final : public Responder {
 public:
  void complete(AppResponse response) override {
    response_ = std::move(response);
    done_ = true;
  }
  bool start(int status, std::vector<Header> headers) override {
    response_.status = status;
    response_.headers = std::move(headers);
    return true;
  }
  bool write(std::string_view block) override {
    response_.body.append(block);
    return true;
  }
  bool finish() override {
    done_ = true;
    return true;
  }
  void abort() override { aborted_ = true; }

  const AppResponse& response() const { return response_; }
  bool done() const { return done_ && !aborted_; }
  bool aborted() const { return aborted_; }

 private:
  AppResponse response_;
  bool done_ = false;
  bool aborted_ = false;
};

class App {
 public:
  virtual ~App() = default;
  // Run by the zygote around each worker fork: before (in the zygote), and after in the zygote.
  // Interpreters use them to hold their locks across the fork.
  virtual void before_fork() {}
  virtual void after_fork_parent() {}
  // Runs in each worker right after it is forked, before it accepts: reopen what must not be
  // shared across processes (database connections, random state).
  virtual void worker_init() {}
  // Runs in a worker that is about to exit normally (drained or retired): the app's exit hooks.
  virtual void worker_exit() {}
  // Runs in a worker, one request at a time. May block (the worker is busy meanwhile).
  virtual AppResponse handle(const AppRequest& request) = 0;
  // The same, for apps that stream: the default answers with handle() in one piece.
  virtual void respond(const AppRequest& request, Responder& out) { out.complete(handle(request)); }
  // Whether requests must carry the connection's addresses (one more system call each).
  virtual bool wants_addresses() const { return false; }
  // Whether the app reads a large body from AppRequest::body_file itself (so it never sits
  // whole in the worker's memory); else the worker reads the file into AppRequest::body.
  virtual bool reads_body_files() const { return false; }
};

// Worker limits a release sets for its own workers (its zygote.toml), over the server's.
struct ReleaseLimits {
  std::optional<std::uint64_t> max_requests;
  std::optional<std::uint64_t> max_requests_jitter;
  std::optional<std::uint64_t> rss_bytes_max;
  std::optional<Nanos> cpu_max;
};

struct LoadResult {
  std::unique_ptr<App> app;  // set on success
  std::string error;         // set on failure: a sentence an operator can act on
  // On success, what was loaded, for `ctl status`: "native hello.so",
  // "python 3.13.5 WSGI example:application (virtualenv .venv)".
  std::string kind = {};
  ReleaseLimits limits = {};
};

class AppLoader {
 public:
  virtual ~AppLoader() = default;
  // Runs once in a fresh zygote: static initialisation, imports, preloading. `version` names the
  // release; `args` are the extra command-line arguments for the app.
  virtual LoadResult load(const Version& version, const std::vector<std::string>& args) = 0;
};

}  // namespace zyg
