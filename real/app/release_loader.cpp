#include "real/app/release_loader.hpp"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "real/app/release_settings.hpp"

namespace zyg::real {
namespace {

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_identifier(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || static_cast<unsigned char>(c) >= 0x80;
    if (!ok) return false;
  }
  return true;
}

// "a.b.c" with each part an identifier.
bool is_dotted(std::string_view s) {
  for (;;) {
    const auto dot = s.find('.');
    if (!is_identifier(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

std::string module_path(const std::string& release, std::string module) {
  for (char& c : module) {
    if (c == '.') c = '/';
  }
  return release + "/" + module;
}

}  // namespace

Classified classify_app(const std::string& release, const std::string& app) {
  if (app.empty()) return {std::nullopt, "APP is empty"};
  if (const auto colon = app.find(':'); colon != std::string::npos) {
    const std::string module = app.substr(0, colon);
    if (!is_dotted(module) || colon + 1 == app.size()) {
      return {std::nullopt, "APP " + app +
                                " is not MODULE:CALLABLE (a dotted module name, a colon, then "
                                "the WSGI callable's name or a call of a factory)"};
    }
    return {AppKind::python, ""};
  }
  if (app.ends_with(".so")) return {AppKind::native, ""};
  const bool native = is_file(NativeLoader::object_path(release, app));
  const std::string py = module_path(release, app);
  const bool python = is_dotted(app) && (is_file(py + ".py") || is_file(py + "/__init__.py"));
  if (native && python) {
    return {std::nullopt, "APP " + app + " is ambiguous in " + release + ": both " +
                              NativeLoader::object_path(release, app) +
                              " (a native app) and a Python module " + app +
                              " are there; name the object (" + app + ".so) or the callable (" +
                              app + ":get_application())"};
  }
  if (native) return {AppKind::native, ""};
  if (python) return {AppKind::python, ""};
  return {std::nullopt, "APP " + app + " is not in " + release + ": there is no " +
                            NativeLoader::object_path(release, app) + " (a native app) and no " +
                            py + ".py or " + py +
                            "/__init__.py (a Python module); a Python app installed elsewhere "
                            "is named MODULE:CALLABLE"};
}

std::string ReleaseLoader::python_module_path() {
  if (const char* env = std::getenv("ZYGOTE_PYTHON_MODULE"); env != nullptr && *env != '\0') {
    return env;
  }
  char exe[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "zygote-python.so";
  std::string dir(exe, static_cast<std::size_t>(n));
  dir.erase(dir.rfind('/') + 1);
  return dir + "zygote-python.so";
}

LoadResult ReleaseLoader::load(const Version& version, const std::vector<std::string>& given) {
  auto settings = read_release_settings(version);
  if (auto* why = std::get_if<std::string>(&settings)) {
    return {nullptr, "Cannot load release " + version + ": " + *why + "."};
  }
  const ReleaseSettings& own = std::get<ReleaseSettings>(settings);
  std::vector<std::string> args = given;
  if (own.args && !args.empty()) {  // the app stays; its arguments are the release's
    args.resize(1);
    args.insert(args.end(), own.args->begin(), own.args->end());
  }
  LoadResult r = load_app(version, args);
  if (r.app) r.limits = own.limits;
  return r;
}

LoadResult ReleaseLoader::load_app(const Version& version, const std::vector<std::string>& args) {
  const std::string app = args.empty() ? "" : args[0];
  const Classified c = classify_app(version, app);
  if (!c.kind) return {nullptr, "Cannot load release " + version + ": " + c.error + "."};
  if (*c.kind == AppKind::native) return native_.load(version, args);
  const std::string path = python_module_path();
  // Global: the extension modules Python imports find libpython's symbols through this object.
  void* dl = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (dl == nullptr) {
    const char* e = ::dlerror();
    return {nullptr, "Cannot load Python app " + app + ": the server's Python support " + path +
                         " did not load (" + (e != nullptr ? e : "no detail") + ")."};
  }
  using Factory = AppLoader* (*)();
  auto factory = reinterpret_cast<Factory>(::dlsym(dl, "zygote_python_loader"));
  if (factory == nullptr) {
    return {nullptr, "Cannot load Python app " + app + ": " + path +
                         " does not export zygote_python_loader."};
  }
  // Never dlclosed: the interpreter it holds lives as long as this zygote and its workers.
  return factory()->load(version, args);
}

}  // namespace zyg::real
