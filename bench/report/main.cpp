// bench-report: see report.hpp.
#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench/harness.hpp"
#include "bench/report/report.hpp"

namespace zyg::bench::report {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  std::stringstream text;
  text << in.rdbuf();
  // Google Benchmark writes a coefficient of variation of 0/0 as a bare NaN, which is not JSON.
  const std::string fixed = std::regex_replace(
      text.str(), std::regex(R"(:\s*-?(nan|inf|infinity)\b)", std::regex::icase), ": null");
  auto j = nlohmann::json::parse(fixed, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

namespace {

bool name_has_prefix(const std::string& name, const std::string& prefix) {
  return name.rfind(prefix, 0) == 0 && (name.size() == prefix.size() || name[prefix.size()] == '/');
}

}  // namespace

const nlohmann::json* find_run(const nlohmann::json& results, const std::string& prefix) {
  if (!results.is_object() || !results.contains("benchmarks")) return nullptr;
  const nlohmann::json* single = nullptr;
  for (const auto& b : results["benchmarks"]) {
    if (!name_has_prefix(b.value("run_name", ""), prefix)) continue;
    if (b.value("aggregate_name", "") == "median") return &b;
    if (b.value("run_type", "") == "iteration" && single == nullptr) single = &b;
  }
  return single;
}

std::optional<double> counter(const nlohmann::json* run, const std::string& name) {
  if (run == nullptr || !run->contains(name) || !(*run)[name].is_number()) return std::nullopt;
  return (*run)[name].get<double>();
}

namespace {

std::string first_line_of(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The value after "key:" in a /proc file of "key: value" lines.
std::string proc_field(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

// "always [madvise] never" -> "madvise"; "not available" without the file.
std::string selected(const std::string& path) {
  const std::string all = first_line_of(path);
  const auto open = all.find('[');
  const auto close = all.find(']');
  if (open == std::string::npos || close == std::string::npos) return "not available";
  return all.substr(open + 1, close - open - 1);
}

int machine(const std::string& out) {
  utsname u{};
  ::uname(&u);
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  const std::string flags = proc_field("/proc/cpuinfo", "flags");
  nlohmann::json m = {
      {"date", date},
      {"cpu", proc_field("/proc/cpuinfo", "model name")},
      {"cores", ::sysconf(_SC_NPROCESSORS_ONLN)},
      {"virtualized", flags.find("hypervisor") != std::string::npos},
      {"kernel", std::string(u.release) + " " + u.version},
      {"arch", u.machine},
      {"memory", proc_field("/proc/meminfo", "MemTotal")},
      {"thp_enabled", selected("/sys/kernel/mm/transparent_hugepage/enabled")},
      {"thp_defrag", selected("/sys/kernel/mm/transparent_hugepage/defrag")},
      {"compiler", std::string("g++ ") + __VERSION__},
      {"build_type", ZYGOTE_BENCH_BUILD_TYPE},
  };
  std::ofstream(out) << m.dump(2) << "\n";
  return 0;
}

// "PREFIX=a,b" -> {PREFIX, {a, b}}.
std::pair<std::string, std::vector<std::string>> parse_spec(const std::string& spec) {
  const auto eq = spec.find('=');
  std::pair<std::string, std::vector<std::string>> out{spec.substr(0, eq), {}};
  if (eq == std::string::npos) return out;
  std::stringstream ss(spec.substr(eq + 1));
  std::string item;
  while (std::getline(ss, item, ',')) out.second.push_back(item);
  return out;
}

bool check_throughput(const nlohmann::json& j, std::string& why) {
  const auto& runs = j["runs"];
  if (!runs.is_array() || runs.size() != 4) {
    why = "expected 4 runs (zygote and nginx, keep-alive and close)";
    return false;
  }
  for (const auto& r : runs) {
    const auto& w = r["wrk"];
    if (w.value("requests", 0) <= 0 || w.value("duration_us", 0) <= 0 ||
        w["latency_us"].value("p99", 0) <= 0) {
      why = "run " + r.value("server", "?") + " " + r.value("mode", "?") + " produced no numbers";
      return false;
    }
  }
  return true;
}

bool check_gbench(const nlohmann::json& j, const std::vector<std::string>& specs,
                  std::string& why) {
  if (!j["benchmarks"].is_array() || j["benchmarks"].empty()) {
    why = "no benchmark ran";
    return false;
  }
  for (const auto& b : j["benchmarks"]) {
    const std::string name = b.value("name", "?");
    if (b.value("error_occurred", false)) {
      if (b.value("error_message", "").find("not available") != std::string::npos) continue;
      why = name + " failed: " + b.value("error_message", "");
      return false;
    }
    for (const std::string& spec : specs) {
      const auto [prefix, counters] = parse_spec(spec);
      if (b.value("run_name", name).rfind(prefix, 0) != 0) continue;
      for (std::string c : counters) {
        // "NAME>=0": present, but zero is a result too (AnonHugePages where THP is refused).
        const bool zero_ok = c.size() > 3 && c.compare(c.size() - 3, 3, ">=0") == 0;
        if (zero_ok) c.resize(c.size() - 3);
        const auto v = counter(&b, c);
        if (!v || !std::isfinite(*v) || *v < 0 || (*v == 0 && !zero_ok)) {
          why = name + ": counter " + c + (v ? " is not positive" : " is missing");
          return false;
        }
      }
    }
  }
  return true;
}

int check(const std::string& file, const std::vector<std::string>& specs) {
  const nlohmann::json j = read_json(file);
  std::string why;
  bool ok = false;
  if (j.is_null()) {
    why = "cannot read " + file;
  } else if (j.contains("runs")) {
    ok = check_throughput(j, why);
  } else {
    ok = check_gbench(j, specs, why);
  }
  if (!ok) {
    std::cerr << "bench-report check: " << why << "\n";
    return 1;
  }
  std::cout << "bench-report check: " << file << ": ok\n";
  return 0;
}

int usage() {
  std::cerr << "usage: bench-report free-port | machine OUT.json | check RESULT.json "
               "[PREFIX=COUNTER,...]... | write DATA_DIR OUT.md NOTES.md\n";
  return 2;
}

}  // namespace
}  // namespace zyg::bench::report

int main(int argc, char** argv) {
  using namespace zyg::bench::report;
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage();
  if (args[0] == "free-port" && args.size() == 1) {
    std::cout << zyg::bench::free_port() << "\n";
    return 0;
  }
  if (args[0] == "machine" && args.size() == 2) return machine(args[1]);
  if (args[0] == "check" && args.size() >= 2) {
    return check(args[1], std::vector<std::string>(args.begin() + 2, args.end()));
  }
  if (args[0] == "write" && args.size() == 4) return write_report(args[1], args[2], args[3]);
  return usage();
}
