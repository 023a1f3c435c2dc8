#include "sim/svg.hpp"

#include <algorithm>
#include <set>
#include <sstream>

namespace zyg::sim {

namespace {

constexpr double kWidth = 1100, kHeight = 460, kLeft = 60, kRight = 230, kTop = 40, kBottom = 50;
const char* kPalette[] = {"#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

}  // namespace

std::string render_svg(const Scenario& s, const RunResult& r) {
  const double t_end = std::max(1.0, static_cast<double>(r.ended.count()) / 1e9);
  int y_max = s.budget + 1;
  int in_flight_max = 1;
  for (const StateSample& x : r.samples) in_flight_max = std::max(in_flight_max, x.in_flight);
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto X = [&](Nanos t) { return kLeft + plot_w * (static_cast<double>(t.count()) / 1e9) / t_end; };
  auto Y = [&](double v) { return kTop + plot_h * (1.0 - v / y_max); };
  auto Yf = [&](double v) { return kTop + plot_h * (1.0 - v / in_flight_max); };

  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << kWidth << "' height='" << kHeight
    << "' font-family='sans-serif' font-size='11'>\n";
  o << "<rect width='100%' height='100%' fill='white'/>\n";
  o << "<text x='" << kLeft << "' y='20' font-size='14'>" << escape(knobs_line(s)).substr(0, 150)
    << "</text>\n";
  // Axes and grid.
  for (int v = 0; v <= y_max; ++v) {
    o << "<line x1='" << kLeft << "' x2='" << kLeft + plot_w << "' y1='" << Y(v) << "' y2='" << Y(v)
      << "' stroke='#eee'/><text x='" << kLeft - 8 << "' y='" << Y(v) + 4 << "' text-anchor='end'>"
      << v << "</text>\n";
  }
  for (int sec = 0; sec <= static_cast<int>(t_end);
       sec += std::max(1, static_cast<int>(t_end) / 10)) {
    const double x = X(std::chrono::seconds(sec));
    o << "<line x1='" << x << "' x2='" << x << "' y1='" << kTop << "' y2='" << kTop + plot_h
      << "' stroke='#f4f4f4'/><text x='" << x << "' y='" << kTop + plot_h + 16
      << "' text-anchor='middle'>" << sec << "s</text>\n";
  }
  o << "<text x='" << kLeft - 40 << "' y='" << kTop - 8 << "'>workers</text>\n";
  // The budget.
  o << "<line x1='" << kLeft << "' x2='" << kLeft + plot_w << "' y1='" << Y(s.budget) << "' y2='"
    << Y(s.budget) << "' stroke='red' stroke-width='2' stroke-dasharray='8,4'/>\n";
  // Marks.
  for (const Marker& m : r.markers) {
    const double x = X(m.t);
    o << "<line x1='" << x << "' x2='" << x << "' y1='" << kTop << "' y2='" << kTop + plot_h
      << "' stroke='" << (m.fault ? "#d62728" : "#ff7f0e") << "' stroke-opacity='0.6'><title>"
      << escape(m.what) << "</title></line>\n";
  }
  // Series: existing worker processes, in-flight requests, and per version serving/draining.
  auto polyline = [&](auto value, const std::string& color, const std::string& dash, double width) {
    o << "<polyline fill='none' stroke='" << color << "' stroke-width='" << width << "'"
      << (dash.empty() ? "" : " stroke-dasharray='" + dash + "'") << " points='";
    for (const StateSample& x : r.samples) o << X(x.t) << "," << value(x) << " ";
    o << "'/>\n";
  };
  polyline([&](const StateSample& x) { return Y(x.existing); }, "black", "", 1.5);
  polyline([&](const StateSample& x) { return Yf(x.in_flight); }, "#bbb", "2,2", 1);
  std::set<std::string> versions;
  for (const StateSample& x : r.samples) {
    for (const auto& [v, states] : x.workers) versions.insert(v);
  }
  double legend_y = kTop + 10;
  auto legend = [&](const std::string& color, const std::string& dash, const std::string& text) {
    const double lx = kLeft + plot_w + 15;
    o << "<line x1='" << lx << "' x2='" << lx + 25 << "' y1='" << legend_y << "' y2='" << legend_y
      << "' stroke='" << color << "' stroke-width='2'"
      << (dash.empty() ? "" : " stroke-dasharray='" + dash + "'") << "/><text x='" << lx + 32
      << "' y='" << legend_y + 4 << "'>" << escape(text) << "</text>\n";
    legend_y += 18;
  };
  legend("red", "8,4", "budget (" + std::to_string(s.budget) + ")");
  legend("black", "", "worker processes that exist");
  legend("#bbb", "2,2", "requests in flight (max " + std::to_string(in_flight_max) + ")");
  int i = 0;
  for (const std::string& v : versions) {
    const std::string color = kPalette[i++ % 6];
    auto count = [&](const StateSample& x, std::initializer_list<const char*> states) {
      auto it = x.workers.find(v);
      int n = 0;
      if (it != x.workers.end()) {
        for (const char* st : states) {
          auto jt = it->second.find(st);
          if (jt != it->second.end()) n += jt->second;
        }
      }
      return n;
    };
    polyline([&](const StateSample& x) { return Y(count(x, {"ready", "busy"})); }, color, "", 2);
    polyline([&](const StateSample& x) { return Y(count(x, {"starting"})); }, color, "1,3", 1);
    polyline(
        [&](const StateSample& x) {
          return Y(count(x, {"draining", "exited-unreaped"}));
        },
        color, "6,3", 1);
    legend(color, "", v + " serving");
    legend(color, "1,3", v + " starting");
    legend(color, "6,3", v + " draining");
  }
  legend("#ff7f0e", "", "deploy");
  legend("#d62728", "", "fault / rollback");
  o << "<text x='" << kLeft << "' y='" << kHeight - 10 << "'>"
    << (r.ok ? "verdict: ok"
             : "verdict: FAIL (" + std::to_string(r.violations.size()) + " violations)")
    << "</text>\n</svg>\n";
  return o.str();
}

}  // namespace zyg::sim
