#include "sim/app.hpp"

#include <charconv>

#include "core/marks.hpp"

namespace zyg::sim {

std::optional<Nanos> requested_service_time(const std::string& target) {
  const auto q = target.find("ms=");
  if (q == std::string::npos) return std::nullopt;
  std::int64_t ms = 0;
  const char* begin = target.data() + q + 3;
  const char* end = target.data() + target.size();
  auto [ptr, ec] = std::from_chars(begin, end, ms);
  if (ec != std::errc() || ptr == begin || ms < 0) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

void SimApp::worker_init() {
  Process& p = k_.current();
  if (faults_on_ && spec_.init_crash_ppm != 0 && p.rng.chance_ppm(spec_.init_crash_ppm)) {
    ZYG_MARK("fault.init-crash");
    rec_.fault(p, "worker crashed before ready");
    k_.sys_crash(6);
  }
  if (faults_on_ && spec_.init_hang_ppm != 0 && p.rng.chance_ppm(spec_.init_hang_ppm)) {
    ZYG_MARK("fault.init-hang");
    rec_.fault(p, "worker hung before ready");
    k_.sys_hang();
  }
}

AppResponse SimApp::handle(const AppRequest& request) {
  Process& p = k_.current();
  rec_.serving(request.target);
  p.rss_bytes = spec_.memory_bytes;
  Nanos d = p.rng.between(spec_.service_min, spec_.service_max);
  if (auto asked = requested_service_time(request.target)) d = *asked;
  if (faults_on_ && spec_.crash_ppm != 0 && p.rng.chance_ppm(spec_.crash_ppm)) {
    ZYG_MARK("fault.app-crash");
    rec_.fault(p, "app crashed mid-request");
    k_.sys_sleep(p.rng.between(Nanos{0}, d));
    k_.sys_crash(11);
  }
  if (faults_on_ && spec_.hang_ppm != 0 && p.rng.chance_ppm(spec_.hang_ppm)) {
    ZYG_MARK("fault.app-hang");
    rec_.fault(p, "app hung");
    k_.sys_hang();
  }
  k_.sys_sleep(d);
  AppResponse r;
  r.status = 200;
  r.headers.push_back({"Content-Type", "text/plain"});
  r.body = spec_.name + " " + std::to_string(p.pid) + "\n";
  return r;
}

LoadResult SimLoader::load(const Version& version, const std::vector<std::string>&) {
  auto it = versions_.find(version);
  Process& p = k_.current();
  if (it == versions_.end()) return {nullptr, "no such release: " + version};
  const VersionSpec& spec = it->second;
  if (spec.load_hangs) {
    ZYG_MARK("fault.load-hang");
    k_.sys_hang();  // an import that never returns
  }
  k_.sys_sleep(p.rng.between(spec.load_min, spec.load_max));
  if (spec.load_fails)
    return {nullptr, "ImportError in " + version + " (simulated broken release)"};
  p.rss_bytes = spec.memory_bytes;
  return {std::make_unique<SimApp>(k_, spec, faults_on_, rec_), {}};
}

}  // namespace zyg::sim
