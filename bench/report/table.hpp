// bench-report write's building blocks: numbers as the tables print them, Markdown table rows,
// and the sections written from one suite's results (bench/report/zygote_sections.cpp: time to
// a ready worker and page sharing; the others in write.cpp).
#pragma once

#include <cmath>
#include <cstdio>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zyg::bench::report {

inline std::string num(std::optional<double> v, int decimals = 1) {
  if (!v || !std::isfinite(*v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, *v);
  return buf;
}

// a / b as "N.NN×", or n/a.
inline std::string ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b == 0) return "n/a";
  return num(*a / *b, 2) + "×";
}

// A value in a gnuplot .dat file; NaN (no point) when missing.
inline std::string dat(std::optional<double> v) { return v ? num(v, 4) : "NaN"; }

inline std::string row(const std::vector<std::string>& cells) {
  std::string out = "|";
  for (const std::string& c : cells) out += " " + c + " |";
  return out + "\n";
}

inline std::string header(const std::vector<std::string>& cells) {
  std::string out = row(cells) + "|";
  for (std::size_t i = 0; i < cells.size(); ++i) out += "---|";
  return out + "\n";
}

// A custom context entry of Google Benchmark results ("workers", "preload_mib").
inline std::string context(const nlohmann::json& results, const std::string& key,
                           const std::string& fallback) {
  if (!results.is_object() || !results.contains("context")) return fallback;
  return results["context"].value(key, fallback);
}

// Time to a ready worker (bench-ready: ready.json) and page sharing (bench-sharing:
// sharing.json): each a section with its table and DIR/*.dat, and a line of the summary.
void ready_section(std::ostream& md, const nlohmann::json& r, const std::string& dir);
void ready_summary(std::ostream& md, const nlohmann::json& r);
void sharing_section(std::ostream& md, const nlohmann::json& r, const std::string& dir);
void sharing_summary(std::ostream& md, const nlohmann::json& r);

}  // namespace zyg::bench::report
