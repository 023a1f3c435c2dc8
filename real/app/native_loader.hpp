// Loads a native app: a shared object in the release directory that implements the C ABI of
// real/app/zygote_app.h. `load(version, args)`: args[0] names the app (APP); the object is
// <version>/<APP> when APP ends in ".so", else <version>/<APP>.so; args[1..] go to its init.
#pragma once

#include <string>
#include <vector>

#include "core/app.hpp"

namespace zyg::real {

class NativeLoader final : public AppLoader {
 public:
  // Never throws for environment problems (missing file, missing symbol, ABI mismatch, init
  // failure): those come back as LoadResult::error, a sentence naming the file and the reason.
  LoadResult load(const Version& version, const std::vector<std::string>& args) override;

  // The path load() opens for this release and app name (exposed for messages and tests).
  static std::string object_path(const Version& version, const std::string& app);
};

}  // namespace zyg::real
