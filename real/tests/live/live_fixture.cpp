#include "real/tests/live/live_fixture.hpp"

namespace zyg::live {
namespace {

using namespace std::chrono_literals;

// The first request waits in the listen backlog while the zygote loads and forks the worker.
constexpr auto kFirstAnswerTimeout = 15s;

}  // namespace

void SuiteServer::start(const std::vector<std::string>& options) {
  scratch_ = std::make_unique<zyg::testing::ScratchDir>();
  zyg::testing::make_release(scratch_->path(), "A", ZYG_LIVE_APP);
  zyg::testing::point_current(scratch_->path(), "A");
  std::vector<std::string> args = {"--workers", "1"};
  args.insert(args.end(), options.begin(), options.end());
  args.push_back("hello");
  server_ = std::make_unique<zyg::testing::ServerProcess>(ZYG_LIVE_SERVER, scratch_->path(), args);
  if (!server_->started()) {
    const auto code = server_->wait_exit(0ms);
    error_ = code ? "zygote-real exited with " + std::to_string(*code) + " before it listened"
                  : "zygote-real did not say which port it listens on in time";
    return discard();
  }
  const Exchange first = exchange(server_->port(), kGet, after(kFirstAnswerTimeout));
  const auto finals = first.responses.finals();
  const auto workers = server_->workers();
  if (finals.empty() || finals[0].status != 200) {
    error_ = "the first GET / was not answered 200: " + describe(first);
    return discard();
  }
  if (workers.size() != 1) {
    error_ = "expected exactly one worker, found " + zyg::testing::describe(workers);
    return discard();
  }
  worker_ = workers[0];
}

// Kills its process group and removes its directory, keeping its log for running().
void SuiteServer::discard() {
  error_ += "\n--- zygote-real log\n" + log();
  server_.reset();
  scratch_.reset();
}

void SuiteServer::stop() {
  if (!server_) return;
  const std::string problem = server_->stop_cleanly();
  if (!problem.empty()) ADD_FAILURE() << "stopping zygote-real: " << problem << "\n" << log();
  server_.reset();
  scratch_.reset();
}

::testing::AssertionResult SuiteServer::running() const {
  if (server_) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "zygote-real did not start: " << error_;
}

::testing::AssertionResult SuiteServer::same_worker_serving() const {
  const Exchange e = exchange(port(), kGet, after(kAnswerTimeout));
  const auto finals = e.responses.finals();
  const auto workers = server_->workers();
  if (workers.size() != 1 || !(workers[0] == worker_) || workers[0].state == 'Z') {
    return ::testing::AssertionFailure()
           << "the worker changed: the suite began with pid " << worker_.pid << ", now "
           << zyg::testing::describe(workers) << "; a fresh GET / got " << describe(e);
  }
  if (finals.empty() || finals[0].status != 200) {
    return ::testing::AssertionFailure() << "a fresh GET / after it got " << describe(e);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace zyg::live
