// zygote-sim: runs the real master, zygote and worker code over a simulated kernel.
//
//   zygote-sim --seed N            one random scenario drawn from the seed
//   zygote-sim --scenario FILE     one scenario written by hand (docs/SIMULATION.md)
//   zygote-sim --seeds A..B        many seeds; prints failures and scenarios per second
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <cxxopts.hpp>

#include "cli/options.hpp"
#include "core/marks.hpp"
#include "sim/scenario.hpp"
#include "sim/svg.hpp"
#include "sim/world.hpp"

namespace {

using zyg::sim::RunResult;
using zyg::sim::Scenario;

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

void print_verdict(const Scenario& s, const RunResult& r, const std::string& reproduce) {
  std::cout << "verdict: " << (r.ok ? "ok" : "FAIL") << "\n";
  for (const zyg::check::Violation& v : r.violations) {
    std::cout << "  violation at " << zyg::sim::format_duration(v.t) << ": " << v.what << "\n";
  }
  std::cout << "requests: " << r.counts.requests;
  for (const auto& [o, n] : r.counts.outcomes)
    std::cout << " " << zyg::check::to_string(o) << " " << n;
  std::cout << "\npeak workers: " << r.counts.peak_workers << " of budget " << s.budget
            << ", peak zygotes: " << r.counts.peak_zygotes << ", accepts: " << r.counts.accepts
            << "\n";
  std::cout << "pids reused: " << r.pid_reuses
            << ", coalesced child-exit signals: " << r.coalesced_child_signals << "\n";
  if (r.converged_at.count() >= 0) {
    std::cout << "converged at " << zyg::sim::format_duration(r.converged_at) << "\n";
  }
  std::cout << "trace-hash " << hex(r.trace_hash) << "\n";
  if (!r.ok) std::cout << "reproduce: " << reproduce << "\n";
}

int run_one(const Scenario& s, const cxxopts::ParseResult& args, const std::string& reproduce) {
  std::cout << zyg::sim::knobs_line(s) << "\n";
  if (args.count("print-scenario")) std::cout << zyg::sim::to_text(s);
  zyg::sim::RunOptions opt;
  opt.timeline = args.count("quiet") ? nullptr : &std::cout;
  opt.verbose = args.count("verbose") > 0;
  opt.record_samples = args.count("svg") > 0;
  RunResult r = zyg::sim::run_scenario(s, opt);
  print_verdict(s, r, reproduce);
  if (args.count("svg")) {
    const std::string path = args["svg"].as<std::string>();
    std::ofstream out(path);
    out << zyg::sim::render_svg(s, r);
    if (!out) {
      std::cerr << "zygote-sim: cannot write " << path << "\n";
      return 2;
    }
    std::cout << "svg: " << path << "\n";
  }
  return r.ok ? 0 : 1;
}

// Generated scenarios, with the budget fixed when asked (for measuring speed at a given size).
Scenario scenario_for(std::uint64_t seed, int budget) {
  Scenario s = zyg::sim::generate(seed);
  if (budget > 0) {
    s.budget = budget;
    s.workers = 0;
    s.pid_max = std::max(s.pid_max, static_cast<zyg::Pid>(2 * budget + 8));
  }
  return s;
}

int run_many(std::uint64_t first, std::uint64_t last, int budget) {
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t failed = 0;
  for (std::uint64_t seed = first; seed <= last; ++seed) {
    const Scenario s = scenario_for(seed, budget);
    const RunResult r = zyg::sim::run_scenario(s);
    if (!r.ok) {
      ++failed;
      std::cout << "FAIL seed " << seed << ": " << r.violations.front().what << "\n"
                << "  reproduce: zygote-sim --seed " << seed
                << (budget > 0 ? " --budget " + std::to_string(budget) : "") << "\n";
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::uint64_t n = last - first + 1;
  std::cout << n << " scenarios, " << failed << " failed, " << static_cast<double>(n) / secs
            << " scenarios/s, " << 60.0 * static_cast<double>(n) / secs << " per CPU-minute ("
            << secs << " s on one core)\n";
  return failed == 0 ? 0 : 1;
}

// An open-ended soak over fresh seeds: every minute, the rate and the coverage marks hit so far.
int run_soak(double minutes, std::uint64_t from, int budget) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto end = start + std::chrono::duration<double, std::ratio<60>>(minutes);
  auto next_report = start + std::chrono::minutes(1);
  std::uint64_t n = 0;
  std::uint64_t failed = 0;
  zyg::marks::reset();
  auto report = [&] {
    const double mins = std::chrono::duration<double, std::ratio<60>>(clock::now() - start).count();
    int hit = 0;
    const auto counts = zyg::marks::counts();
    for (const auto& [name, c] : counts) hit += c > 0 ? 1 : 0;
    std::cout << "soak: " << n << " scenarios from seed " << from << ", " << failed << " failed, "
              << static_cast<double>(n) / std::max(mins, 1e-9) << " scenarios/minute, marks hit "
              << hit << "/" << counts.size() << "\n"
              << std::flush;
  };
  for (std::uint64_t seed = from; clock::now() < end; ++seed, ++n) {
    const RunResult r = zyg::sim::run_scenario(scenario_for(seed, budget));
    if (!r.ok) {
      ++failed;
      std::cout << "FAIL seed " << seed << ": " << r.violations.front().what << "\n"
                << "  reproduce: zygote-sim --seed " << seed
                << (budget > 0 ? " --budget " + std::to_string(budget) : "") << "\n";
    }
    if (clock::now() >= next_report) {
      report();
      next_report += std::chrono::minutes(1);
    }
  }
  report();
  for (const auto& [name, c] : zyg::marks::counts()) {
    std::cout << "  " << name << " " << c << (c == 0 ? "  NEVER HIT" : "") << "\n";
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("zygote-sim",
                           "Runs zygote's master, zygote and worker code over a deterministic "
                           "simulated kernel and checks that deploys drop no request and never "
                           "exceed the worker budget.");
  auto add = options.add_options();
  add("seed", "run one random scenario drawn from this seed", cxxopts::value<std::uint64_t>());
  add("scenario", "run the scenario in this file", cxxopts::value<std::string>());
  add("seeds", "run every seed in A..B and report scenarios per second",
      cxxopts::value<std::string>());
  add("soak", "run fresh seeds for this many minutes, reporting each minute",
      cxxopts::value<double>());
  add("from", "with --soak: the first seed",
      cxxopts::value<std::uint64_t>()->default_value("1000000"));
  add("budget", "with --seed, --seeds or --soak: fix the worker budget of generated scenarios",
      cxxopts::value<int>()->default_value("0"));
  add("svg", "draw the run into this SVG file", cxxopts::value<std::string>());
  add("print-scenario", "print the scenario in the file format before running it");
  add("q,quiet", "no timeline, only the verdict");
  add("v,verbose", "timeline with every request, heartbeat and kernel process event");
  add("h,help", "show this help");
  const std::string footer = "Exit status: 0 verdict ok, 1 a violation, 2 bad usage.\n";
  if (argc == 1) {
    std::cout << options.help() << "\n" << footer;
    return 2;
  }
  int status = 0;
  const std::optional<cxxopts::ParseResult> parsed =
      zyg::cli::parse(options, argc, argv, status, footer);
  if (!parsed) return status;
  const cxxopts::ParseResult& args = *parsed;
  const int modes = static_cast<int>(args.count("seed") + args.count("scenario") +
                                     args.count("seeds") + args.count("soak"));
  if (modes != 1) {
    std::cerr << "zygote-sim: give exactly one of --seed, --scenario, --seeds, --soak\n";
    return 2;
  }
  const int budget = args["budget"].as<int>();
  if (budget < 0 || budget > 64) {
    std::cerr << "zygote-sim: --budget takes 1..64\n";
    return 2;
  }
  if (args.count("soak")) {
    const double minutes = args["soak"].as<double>();
    if (!(minutes > 0)) {
      std::cerr << "zygote-sim: --soak takes a positive number of minutes\n";
      return 2;
    }
    return run_soak(minutes, args["from"].as<std::uint64_t>(), budget);
  }
  if (args.count("seeds")) {
    const std::string range = args["seeds"].as<std::string>();
    const auto dots = range.find("..");
    std::uint64_t a = 0, b = 0;
    try {
      if (dots == std::string::npos) throw std::invalid_argument(range);
      a = std::stoull(range.substr(0, dots));
      b = std::stoull(range.substr(dots + 2));
    } catch (const std::exception&) {
      std::cerr << "zygote-sim: --seeds takes A..B, for example 1..100\n";
      return 2;
    }
    if (b < a) {
      std::cerr << "zygote-sim: --seeds A..B needs A <= B\n";
      return 2;
    }
    return run_many(a, b, budget);
  }
  if (args.count("seed")) {
    const std::uint64_t seed = args["seed"].as<std::uint64_t>();
    return run_one(scenario_for(seed, budget), args,
                   "zygote-sim --seed " + std::to_string(seed) +
                       (budget > 0 ? " --budget " + std::to_string(budget) : ""));
  }
  const std::string path = args["scenario"].as<std::string>();
  std::ifstream in(path);
  if (!in) {
    std::cerr << "zygote-sim: cannot read " << path << "\n";
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string error;
  auto s = zyg::sim::parse(text.str(), error);
  if (!s) {
    std::cerr << "zygote-sim: " << path << ": " << error << "\n";
    return 2;
  }
  return run_one(*s, args, "zygote-sim --scenario " + path);
}
