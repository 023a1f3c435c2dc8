// The zygote-real a test suite shares (one worker), and what every live test checks after it:
// the worker is the very process the suite began with, and it still answers GET / with 200.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "real/tests/live/client.hpp"
#include "testing/server_process.hpp"

namespace zyg::live {

inline constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: live\r\n\r\n";
inline constexpr std::string_view kGetClose =
    "GET / HTTP/1.1\r\nHost: live\r\nConnection: close\r\n\r\n";
// How long any one answer may take; generous, as the machine may be busy with other builds.
inline constexpr std::chrono::milliseconds kAnswerTimeout{5000};

class SuiteServer {
 public:
  // Starts the server and waits for its first 200 (SetUpTestSuite).
  void start(const std::vector<std::string>& options);
  // Stops it gracefully; a failed stop fails the suite (TearDownTestSuite).
  void stop();
  ::testing::AssertionResult running() const;
  int port() const { return server_->port(); }
  ::testing::AssertionResult same_worker_serving() const;
  std::string log() const { return server_ ? server_->log_tail() : std::string(); }

 private:
  void discard();

  std::unique_ptr<zyg::testing::ScratchDir> scratch_;
  std::unique_ptr<zyg::testing::ServerProcess> server_;  // goes before its directory
  zyg::testing::ProcessId worker_;
  std::string error_;
};

// A fixture whose test suite shares one server, started with `Derived::options()`.
template <typename Derived, typename Base = ::testing::Test>
class LiveFixture : public Base {
 public:
  static void SetUpTestSuite() { server_.start(Derived::options()); }
  static void TearDownTestSuite() { server_.stop(); }

 protected:
  void SetUp() override { ASSERT_TRUE(server_.running()); }
  void TearDown() override {
    if (this->HasFailure()) std::cerr << "--- zygote-real log (last 64 KiB)\n" << server_.log();
  }
  static int port() { return server_.port(); }
  static const SuiteServer& server() { return server_; }

 private:
  static inline SuiteServer server_;
};

}  // namespace zyg::live
