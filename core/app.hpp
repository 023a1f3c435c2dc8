// Applications and the loaders that bring them into a zygote. The zygote loads one App per version,
// once; every worker forked from it serves requests with that loaded App. Loaders are pluggable:
// native shared objects (real/), simulated apps (sim/), and Python WSGI apps next, without the
// supervisor or the loops knowing which is which.
#pragma once

#include <memory>
#include <string>
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
};

struct AppResponse {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
};

class App {
 public:
  virtual ~App() = default;
  // Runs in each worker right after it is forked, before it accepts: reopen what must not be
  // shared across processes (database connections, random state).
  virtual void worker_init() {}
  // Runs in a worker, one request at a time. May block (the worker is busy meanwhile).
  virtual AppResponse handle(const AppRequest& request) = 0;
};

struct LoadResult {
  std::unique_ptr<App> app;  // set on success
  std::string error;         // set on failure: a sentence an operator can act on
};

class AppLoader {
 public:
  virtual ~AppLoader() = default;
  // Runs once in a fresh zygote: static initialisation, imports, preloading. `version` names the
  // release; `args` are the extra command-line arguments for the app.
  virtual LoadResult load(const Version& version, const std::vector<std::string>& args) = 0;
};

}  // namespace zyg
