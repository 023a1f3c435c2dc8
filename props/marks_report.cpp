// Writes the coverage marks this test process hit to $ZYGOTE_MARKS_DIR, for props_marks_check.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "core/marks.hpp"

namespace {

class MarksReport : public ::testing::Environment {
 public:
  void TearDown() override {
    const char* dir = std::getenv("ZYGOTE_MARKS_DIR");
    if (!dir) return;
    std::ofstream out(std::string(dir) + "/" + std::to_string(::getpid()) + ".marks");
    for (const auto& [name, n] : zyg::marks::counts()) out << name << " " << n << "\n";
  }
};

[[maybe_unused]] ::testing::Environment* const registered =
    ::testing::AddGlobalTestEnvironment(new MarksReport);

}  // namespace
