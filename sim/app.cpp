#include "sim/app.hpp"

#include <charconv>

#include "core/marks.hpp"

namespace zyg::sim {

namespace {

// The number after `key` ("ms=", "kb=") in a target, if there is one.
std::optional<std::int64_t> query_number(const std::string& target, std::string_view key) {
  const auto q = target.find(key);
  if (q == std::string::npos) return std::nullopt;
  std::int64_t n = 0;
  const char* begin = target.data() + q + key.size();
  const char* end = target.data() + target.size();
  auto [ptr, ec] = std::from_chars(begin, end, n);
  if (ec != std::errc() || ptr == begin || n < 0) return std::nullopt;
  return n;
}

}  // namespace

std::optional<Nanos> requested_service_time(const std::string& target) {
  const auto ms = query_number(target, "ms=");
  if (!ms) return std::nullopt;
  return std::chrono::milliseconds(*ms);
}

std::optional<std::size_t> requested_kib(const std::string& target) {
  const auto kib = query_number(target, "kb=");
  if (!kib || *kib > 4096) return std::nullopt;
  return static_cast<std::size_t>(*kib);
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

std::string body_fnv(std::string_view body) {
  std::uint64_t h = 14695981039346656037ULL;
  for (char c : body) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = kHex[h & 15];
  return out;
}

namespace {

// 422 when the request carries X-Body-Fnv and its body does not match it.
bool body_altered(const AppRequest& request) {
  for (const Header& h : request.headers) {
    if (h.name == "X-Body-Fnv") return h.value != body_fnv(request.body);
  }
  return false;
}

}  // namespace

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
  r.status = body_altered(request) ? 422 : 200;
  r.headers.push_back({"Content-Type", "text/plain"});
  r.body = spec_.name + " " + std::to_string(p.pid) + "\n";
  if (auto kib = requested_kib(request.target))
    r.body.resize(std::max(r.body.size(), *kib * 1024), 'x');
  return r;
}

// A large response (kb=) goes out one of three ways, by the worker's own draw: whole (which the
// worker may leave to the front for a slow reader), streamed in 64 KiB blocks (the worker writes
// each itself, within the write timeout), or from a memory file (write_file: the simulated
// sendfile).
void SimApp::respond(const AppRequest& request, Responder& out) {
  AppResponse r = handle(request);
  if (!requested_kib(request.target) || r.status != 200) return out.complete(std::move(r));
  const auto how = k_.current().rng.below(3);
  if (how == 0) return out.complete(std::move(r));
  if (!out.start(r.status, r.headers)) return;
  if (how == 1) {
    ZYG_MARK("app.stream");
    constexpr std::size_t kBlock = 64 * 1024;
    for (std::size_t at = 0; at < r.body.size(); at += kBlock) {
      if (!out.write(std::string_view(r.body).substr(at, kBlock))) return out.abort();
    }
  } else {
    ZYG_MARK("app.send-file");
    auto f = k_.sys_memory_file(std::as_bytes(std::span(r.body.data(), r.body.size())));
    if (!f.ok()) return out.abort();
    const bool sent = out.write_file(f.value, 0, r.body.size());
    static_cast<void>(k_.sys_close(f.value));
    if (!sent) return out.abort();
  }
  out.finish();
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
  return {std::make_unique<SimApp>(k_, spec, faults_on_, rec_), {}, "simulated"};
}

}  // namespace zyg::sim
