// Which loader a release needs, decided from APP and the release directory, and the loader that
// delegates to it. APP is:
//   - module:callable or module:factory(ARGS): a Python WSGI app (gunicorn's form);
//   - NAME.so, or NAME with <release>/NAME.so: a native app (real/app/zygote_app.h);
//   - NAME with <release>/NAME.py or <release>/NAME/__init__.py (dots for packages): a Python app
//     built by NAME.get_application(*ARGS) (the original Zygote's form).
// Both a NAME.so and a Python module NAME is ambiguous; neither is unknown: both are errors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/app.hpp"
#include "real/app/native_loader.hpp"

namespace zyg::real {

enum class AppKind { native, python };

struct Classified {
  std::optional<AppKind> kind;  // unset: `error` says why
  std::string error;
};

// Looks at the release directory only (no Python is started).
Classified classify_app(const std::string& release, const std::string& app);

// The loader a zygote runs: classifies its release, then loads it natively or through the
// Python module, which it dlopens only then (the master and native releases never map libpython).
class ReleaseLoader final : public AppLoader {
 public:
  LoadResult load(const Version& version, const std::vector<std::string>& args) override;

  // Where the Python module is: $ZYGOTE_PYTHON_MODULE, else zygote-python.so beside this program.
  static std::string python_module_path();

 private:
  LoadResult load_app(const Version& version, const std::vector<std::string>& args);
  NativeLoader native_;
};

}  // namespace zyg::real
