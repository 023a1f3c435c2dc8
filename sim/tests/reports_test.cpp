// What a worker tells the master, counted in the simulator: a worker that goes from one hand-off
// to the next says nothing in between (the master is not woken twice a request), and a worker
// that really runs out of work is heard idle soon after, so the master's view comes back to
// every worker ready.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "sim/scenario.hpp"
#include "sim/world.hpp"

namespace zyg::sim {
namespace {

struct Heard {
  std::uint64_t busy = 0;
  std::uint64_t idle = 0;
  std::string last_report;  // the timeline's last busy or idle line
  std::string first_violation;
  RunResult result;
};

std::uint64_t occurrences(const std::string& text, const std::string& word) {
  std::uint64_t n = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
  return n;
}

// N keep-alive clients that think THINK between requests, against 2 workers at 2 ms a request.
Heard run(int clients, const std::string& think) {
  const std::string clients_line = "clients " + std::to_string(clients) +
                                   " keepalive 100% pipeline 0% abandon 0% half-send 0% long 0% "
                                   "long-request 1s think " +
                                   think;
  const std::string text = "seed 7\nbudget 2\nduration 3s\nliveness 30s\n" + clients_line +
                           "\nversion releases/A load 100ms..100ms service 2ms..2ms\n"
                           "start releases/A\n";
  std::string error;
  auto s = parse(text, error);
  EXPECT_TRUE(s.has_value()) << error;
  if (!s) return {};
  std::ostringstream timeline;
  RunOptions o;
  o.timeline = &timeline;
  o.verbose = true;
  World w(*s, o);
  Heard h;
  h.result = w.run();
  if (!h.result.violations.empty()) h.first_violation = h.result.violations.front().what;
  h.busy = occurrences(timeline.str(), "worker-busy");
  h.idle = occurrences(timeline.str(), "worker-idle");
  std::istringstream lines(timeline.str());
  for (std::string line; std::getline(lines, line);) {
    if (line.find("worker-busy") != std::string::npos ||
        line.find("worker-idle") != std::string::npos) {
      h.last_report = line;
    }
  }
  return h;
}

TEST(WorkerReports, BackToBackHandOffsAreNotReported) {
  const Heard h = run(16, "1ms..1ms");
  ASSERT_TRUE(h.result.ok) << h.first_violation;
  const std::uint64_t served = h.result.counts.requests;
  ASSERT_GT(served, 1000u);
  EXPECT_GT(h.idle, 0u) << "the first request served and the end of the load are heard";
  EXPECT_LT(h.busy + h.idle, served / 50) << "busy " << h.busy << " idle " << h.idle;
  // Once the clients stop, both workers are heard idle: the master's view is every worker ready.
  EXPECT_NE(h.last_report.find("ready 2 busy 0"), std::string::npos) << h.last_report;
}

TEST(WorkerReports, AWorkerOutOfWorkIsHeardIdle) {
  // One client that thinks 50 ms between requests: every request finds the workers idle.
  const Heard h = run(1, "50ms..50ms");
  ASSERT_TRUE(h.result.ok) << h.first_violation;
  const std::uint64_t served = h.result.counts.requests;
  ASSERT_GT(served, 20u);
  EXPECT_GE(h.idle, served - 1) << "each request is followed by an idle report";
  EXPECT_GE(h.busy, served - 1);
}

}  // namespace
}  // namespace zyg::sim
