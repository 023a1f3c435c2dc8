// bench-report: the benchmarks' companion tool.
//   bench-report free-port                 an unused TCP port on 127.0.0.1
//   bench-report machine OUT.json          what the numbers came from: CPU, cores, kernel, THP
//   bench-report check RESULT.json [PREFIX=COUNTER,COUNTER...]...
//       the run produced numbers: Google Benchmark output with no failed benchmark (a skip that
//       says "not available" is allowed) and, for every benchmark whose name starts with
//       PREFIX, each COUNTER present and positive (COUNTER>=0: present and not negative); or
//       throughput.sh output with four runs that each served requests. Exit 0 or 1 with the
//       reason. Never a timing threshold.
//   bench-report write DATA_DIR OUT.md NOTES.md  the tables of docs/BENCHMARKS.md, and
//   DATA_DIR/*.dat
//       for the plots, from DATA_DIR/{machine,fork,ready,sharing,deploy,throughput}.json and
//       DATA_DIR/peers/{peers.json,peers.md} (bench/peers.sh)
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zyg::bench::report {

nlohmann::json read_json(const std::string& path);  // null if missing or malformed

// One benchmark's numbers from Google Benchmark JSON: the median aggregate when the run had
// repetitions, else the single run. Prefix matches whole name components ("ready/cold_solo/
// preload_MiB:16" matches ".../iterations:3/manual_time").
const nlohmann::json* find_run(const nlohmann::json& results, const std::string& prefix);
// A counter of that run, if present.
std::optional<double> counter(const nlohmann::json* run, const std::string& name);

// Issue 11's targets against this run's ratios, then bench/peers.sh's tables (DATA_DIR/peers/):
// nothing when DATA_DIR/peers/peers.json is missing.
void issue11_section(std::ostream& md, const std::string& data_dir,
                     const nlohmann::json& throughput, const nlohmann::json& deploy);
// Python WSGI apps against the peers: DATA_DIR/python/python.md, when bench/python.sh wrote it.
void python_section(std::ostream& md, const std::string& data_dir);

// NOTES.md (hand-written: what the numbers do not say) is appended as it is.
int write_report(const std::string& data_dir, const std::string& out_md,
                 const std::string& notes_md);

}  // namespace zyg::bench::report
