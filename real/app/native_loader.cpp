#include "real/app/native_loader.hpp"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "real/app/zygote_app.h"

// The host side of the opaque response handle: the response under construction.
struct zygote_response {
  zyg::AppResponse* out = nullptr;
};

namespace zyg::real {
namespace {

// Exit status of a worker whose app could not initialize (EX_SOFTWARE): a failure, not a
// retirement.
constexpr int kWorkerInitFailed = 70;

// A request's body as the C ABI gives it: the bytes in memory, or a spooled body's file mapped
// read-only (its pages come from the page cache as the app reads them, and are never the
// worker's own memory).
class BodyView {
 public:
  explicit BodyView(const AppRequest& request) {
    if (request.body_file < 0) {
      data_ = request.body.data();
      size_ = request.body.size();
      return;
    }
    size_ = static_cast<std::size_t>(request.body_file_bytes);
    if (size_ == 0) return;
    void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, request.body_file, 0);
    if (m == MAP_FAILED) {
      size_ = 0;
      failed_ = true;
      return;
    }
    mapped_ = m;
    data_ = static_cast<const char*>(m);
  }
  ~BodyView() {
    if (mapped_ != nullptr) ::munmap(mapped_, size_);
  }
  BodyView(const BodyView&) = delete;
  BodyView& operator=(const BodyView&) = delete;
  const char* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool failed() const { return failed_; }

 private:
  const char* data_ = "";
  std::size_t size_ = 0;
  void* mapped_ = nullptr;
  bool failed_ = false;
};

bool clean_field(std::string_view s) { return s.find_first_of("\r\n", 0, 3) == s.npos; }

int host_set_status(zygote_response* resp, int status) noexcept {
  if (resp == nullptr || status < 100 || status > 999) return -1;
  resp->out->status = status;
  return 0;
}

int host_add_header(zygote_response* resp, const char* name, std::size_t name_len,
                    const char* value, std::size_t value_len) noexcept {
  if (resp == nullptr || name == nullptr || name_len == 0) return -1;
  if (value == nullptr && value_len != 0) return -1;
  const std::string_view n(name, name_len);
  const std::string_view v =
      value_len == 0 ? std::string_view() : std::string_view(value, value_len);
  if (!clean_field(n) || !clean_field(v) || n.find(':') != n.npos) return -1;
  try {
    resp->out->headers.push_back(Header{std::string(n), std::string(v)});
  } catch (const std::bad_alloc&) {
    return -1;
  }
  return 0;
}

int host_write(zygote_response* resp, const void* data, std::size_t len) noexcept {
  if (resp == nullptr) return -1;
  if (len == 0) return 0;
  if (data == nullptr) return -1;
  try {
    resp->out->body.append(static_cast<const char*>(data), len);
  } catch (const std::exception&) {  // bad_alloc or length_error
    return -1;
  }
  return 0;
}

std::string basename_of(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const auto slash = path.rfind('/');
  return std::string(slash == path.npos ? path : path.substr(slash + 1));
}

std::string dl_error() {
  const char* e = dlerror();
  return e != nullptr ? std::string(e) : std::string("no detail from the dynamic loader");
}

AppResponse internal_error() {
  AppResponse r;
  r.status = 500;
  r.headers.push_back(Header{"Content-Type", "text/plain"});
  r.body = "Internal Server Error\n";
  return r;
}

// One loaded object: owns the dlopen handle, the host table the app keeps a pointer to, and the
// app's function table. Heap-allocated before init so the host table's address never changes.
class NativeApp final : public App {
 public:
  NativeApp(void* dl, std::string path, const Version& version)
      : dl_(dl),
        path_(std::move(path)),
        release_path_(version),
        release_name_(basename_of(version)) {
    host_.struct_size = sizeof(zygote_host);
    host_.abi_version = ZYGOTE_APP_ABI_VERSION;
    host_.release_path = release_path_.c_str();
    host_.release_name = release_name_.c_str();
    host_.error = error_.data();
    host_.error_size = error_.size();
    host_.set_status = host_set_status;
    host_.add_header = host_add_header;
    host_.write = host_write;
    app_.struct_size = sizeof(zygote_app);
  }
  NativeApp(const NativeApp&) = delete;
  NativeApp& operator=(const NativeApp&) = delete;

  ~NativeApp() override {
    if (initialized_ && app_.destroy != nullptr) app_.destroy(app_.state);
    if (dl_ != nullptr) dlclose(dl_);
  }

  // Calls the object's init; returns "" on success or the reason it failed.
  std::string init(zygote_app_init_fn fn, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    argv.reserve(args.size() + 1);
    for (std::size_t i = 1; i < args.size(); ++i) argv.push_back(args[i].c_str());
    argv.push_back(nullptr);
    const int argc = static_cast<int>(argv.size() - 1);
    int rc = 0;
    try {
      rc = fn(&host_, argc, argv.data(), &app_);
    } catch (const std::exception& e) {
      return std::string("its zygote_app_init threw: ") + e.what();
    } catch (...) {
      return "its zygote_app_init threw an exception";
    }
    error_.back() = '\0';
    if (rc != 0) {
      std::string why(error_.data());
      if (why.empty()) why = "no reason given";
      return "its zygote_app_init failed (code " + std::to_string(rc) + "): " + why;
    }
    initialized_ = true;
    if (app_.abi_version != ZYGOTE_APP_ABI_VERSION) {
      return "its zygote_app_init reported ABI version " + std::to_string(app_.abi_version) +
             " but this server speaks version " + std::to_string(ZYGOTE_APP_ABI_VERSION);
    }
    if (app_.handle == nullptr) return "its zygote_app_init set no handle function";
    return "";
  }

  void worker_init() override {
    if (app_.worker_init == nullptr) return;
    const int rc = app_.worker_init(app_.state);
    if (rc != 0) {
      // A worker that cannot initialize must not serve: it exits before it is ready, so the
      // supervisor counts an early failure (and rolls back a release whose workers all fail).
      log_failure("worker_init", rc);
      std::fflush(nullptr);
      ::_exit(kWorkerInitFailed);
    }
  }

  bool reads_body_files() const override { return true; }  // mapped, see BodyView

  AppResponse handle(const AppRequest& request) override {
    std::vector<zygote_header_view> views;
    views.reserve(request.headers.size());
    for (const auto& h : request.headers) {
      views.push_back({h.name.data(), h.name.size(), h.value.data(), h.value.size()});
    }
    zygote_request req{};
    req.struct_size = sizeof(zygote_request);
    req.method = request.method.data();
    req.method_len = request.method.size();
    req.target = request.target.data();
    req.target_len = request.target.size();
    req.http_minor = request.version_minor;
    req.headers = views.data();
    req.header_count = views.size();
    const BodyView body(request);
    if (body.failed()) {
      std::fprintf(stderr, "zygote: app %s: the request body's file could not be mapped\n",
                   path_.c_str());
      return internal_error();
    }
    req.body = body.data();
    req.body_len = body.size();

    AppResponse out;
    zygote_response resp{&out};
    int rc = 0;
    try {
      rc = app_.handle(app_.state, &req, &resp);
    } catch (...) {  // a C++ app that let an exception escape through the C ABI
      rc = -1;
    }
    if (rc != 0) {
      log_failure("handle", rc);
      return internal_error();
    }
    return out;
  }

 private:
  void log_failure(const char* what, int rc) {
    const char* detail = app_.last_error != nullptr ? app_.last_error(app_.state) : nullptr;
    std::fprintf(stderr, "zygote: app %s: %s returned %d%s%s\n", path_.c_str(), what, rc,
                 detail != nullptr ? ": " : "", detail != nullptr ? detail : "");
  }

  void* dl_;
  std::string path_;
  std::string release_path_;
  std::string release_name_;
  std::array<char, ZYGOTE_APP_ERROR_SIZE> error_{};
  zygote_host host_{};
  zygote_app app_{};
  bool initialized_ = false;
};

}  // namespace

std::string NativeLoader::object_path(const Version& version, const std::string& app) {
  const bool has_suffix = app.size() >= 3 && app.compare(app.size() - 3, 3, ".so") == 0;
  std::string path = version;
  if (path.empty() || path.back() != '/') path += '/';
  path += app;
  if (!has_suffix) path += ".so";
  return path;
}

LoadResult NativeLoader::load(const Version& version, const std::vector<std::string>& args) {
  try {
    if (args.empty() || args[0].empty()) {
      return {nullptr, "Cannot load a native app for release " + version +
                           ": no app name was given (expected APP, the shared object's name)."};
    }
    // The path always holds a '/', so dlopen never searches the library path for it.
    const std::string path = object_path(version, args[0]);
    const auto fail = [&](const std::string& why) {
      const bool stop = !why.empty() && why.back() == '.';
      return LoadResult{nullptr, "Cannot load app " + path + ": " + why + (stop ? "" : ".")};
    };

    dlerror();  // clear any stale error
    void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (dl == nullptr) return fail("dlopen failed: " + dl_error());
    auto app = std::make_unique<NativeApp>(dl, path, version);  // owns dl from here on

    dlerror();
    void* init_sym = dlsym(dl, "zygote_app_init");
    if (init_sym == nullptr) {
      return fail("it does not export zygote_app_init (" + dl_error() +
                  "); is it a zygote app built against real/app/zygote_app.h?");
    }
    dlerror();
    const void* abi_sym = dlsym(dl, "zygote_app_abi_version");
    if (abi_sym == nullptr) {
      return fail("it does not export zygote_app_abi_version (" + dl_error() +
                  "); add ZYGOTE_APP_DEFINE_ABI_VERSION to the app");
    }
    const std::uint32_t abi = *static_cast<const std::uint32_t*>(abi_sym);
    if (abi != ZYGOTE_APP_ABI_VERSION) {
      return fail("it was built for app ABI version " + std::to_string(abi) +
                  " but this server speaks version " + std::to_string(ZYGOTE_APP_ABI_VERSION) +
                  "; rebuild it against this server's zygote_app.h");
    }
    const auto init = reinterpret_cast<zygote_app_init_fn>(init_sym);
    if (std::string why = app->init(init, args); !why.empty()) return fail(why);
    return {std::move(app), "", "native " + path.substr(path.rfind('/') + 1)};
  } catch (const std::exception& e) {  // out of memory while building strings
    return {nullptr,
            std::string("Cannot load a native app for release ") + version + ": " + e.what() + "."};
  }
}

}  // namespace zyg::real
