// zygote-check: judges a real run with the simulator's checker.
//
//   zygote-check EVENTS.jsonl [--load SUMMARY.json] [--lost-to-fault N] [--json]
//
// EVENTS is what `zygote-real --events` wrote; SUMMARY what `zygote-load --json` wrote. Each
// master's events are replayed through the supervisor (it must decide what the log recorded) and
// fed to the checker with the load client's outcomes. Prints the verdict; exit status 0 when
// there is no violation, 1 when there is, 2 on bad usage or unreadable input.
#include <fstream>
#include <iostream>
#include <string>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "cli/options.hpp"
#include "core/event_log.hpp"

int main(int argc, char** argv) {
  cxxopts::Options options("zygote-check",
                           "Judges a zygote-real run: replays the master's --events log through "
                           "the supervisor and applies the simulator's invariant checker.\n\n"
                           "  zygote-check EVENTS.jsonl [--load SUMMARY.json] [--json]");
  auto add = options.add_options();
  add("load", "zygote-load's JSON summary: its failed requests are violations",
      cxxopts::value<std::string>());
  add("lost-to-fault", "failed requests a fault the run injected explains (counted apart)",
      cxxopts::value<std::uint64_t>()->default_value("0"));
  add("json", "print the verdict as JSON");
  add("h,help", "show this help");
  add("events", "the events file", cxxopts::value<std::string>());
  options.parse_positional({"events"});
  options.positional_help("EVENTS.jsonl");
  int status = 0;
  const std::optional<cxxopts::ParseResult> parsed = zyg::cli::parse(options, argc, argv, status);
  if (!parsed) return status;
  const cxxopts::ParseResult& args = *parsed;
  if (!args.count("events")) return zyg::cli::usage_error("zygote-check", "missing EVENTS file");
  std::ifstream in(args["events"].as<std::string>());
  if (!in) {
    std::cerr << "zygote-check: cannot read " << args["events"].as<std::string>() << "\n";
    return 2;
  }
  zyg::event_log::Judge judge;
  for (std::string line; std::getline(in, line);) judge.line(line);
  if (judge.generations() == 0) {
    std::cerr << "zygote-check: no master header in " << args["events"].as<std::string>()
              << " (was it written by zygote-real --events?)\n";
    return 2;
  }
  if (args.count("load")) {
    std::ifstream load(args["load"].as<std::string>());
    const auto summary = nlohmann::json::parse(load, nullptr, false);
    if (summary.is_discarded() || !summary.is_object()) {
      std::cerr << "zygote-check: " << args["load"].as<std::string>() << " is not a JSON summary\n";
      return 2;
    }
    const auto count = [&](const char* key) { return summary.value(key, std::uint64_t{0}); };
    const std::uint64_t failed =
        count("non2xx") + count("reset") + count("timeout") + count("connect_failed");
    const std::uint64_t explained = std::min(failed, args["lost-to-fault"].as<std::uint64_t>());
    judge.add_requests(count("ok"), failed - explained, explained,
                       "failed requests reported by zygote-load");
  }
  const auto& checker = judge.checker();
  const auto& counts = checker.counts();
  if (args.count("json")) {
    nlohmann::json v{{"ok", checker.ok()},
                     {"steps", judge.steps()},
                     {"masters", judge.generations()},
                     {"serving", judge.last_serving()},
                     {"failed_versions", judge.view().failed_versions},
                     {"peak_workers", counts.peak_workers},
                     {"requests", counts.requests}};
    nlohmann::json violations = nlohmann::json::array();
    for (const auto& x : checker.violations()) violations.push_back(x.what);
    v["violations"] = std::move(violations);
    std::cout << v.dump(2) << "\n";
  } else {
    std::cout << "zygote-check: " << judge.steps() << " steps from " << judge.generations()
              << " master(s); peak " << counts.peak_workers << " workers; " << counts.requests
              << " requests; last serving " << judge.last_serving() << "\n";
    for (const auto& x : checker.violations()) {
      std::cout << "VIOLATION at " << x.t.count() / 1000000 << " ms: " << x.what << "\n";
    }
    std::cout << (checker.ok() ? "verdict: clean\n" : "verdict: VIOLATED\n");
  }
  return checker.ok() ? 0 : 1;
}
