// The simulated application: what a release does, set per version. It runs inside the real
// zygote and worker loops through the AppLoader/App interfaces, taking virtual time to load and
// to serve, and failing the way real apps fail.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/app.hpp"
#include "sim/kernel.hpp"

namespace zyg::sim {

struct VersionSpec {
  std::string name;  // the release directory, e.g. "releases/B"
  Nanos load_min = 200ms;
  Nanos load_max = 500ms;
  bool load_fails = false;  // raises at import
  Nanos service_min = 1ms;
  Nanos service_max = 20ms;
  std::uint32_t crash_ppm = 0;       // per request: dies mid-request (SIGSEGV)
  std::uint32_t hang_ppm = 0;        // per request: never returns
  std::uint32_t init_crash_ppm = 0;  // per worker: dies after fork, before it is ready
  std::uint32_t init_hang_ppm = 0;   // per worker: hangs after fork, never ready
  bool load_hangs = false;           // the zygote never finishes loading
  std::uint64_t memory_bytes = 64ull << 20;
};

// Where the app records faults it injects (so losses they cause can be explained).
class FaultRecorder {
 public:
  virtual ~FaultRecorder() = default;
  virtual void fault(Process& p, const std::string& what) = 0;
  // The app begins serving a request for `target`.
  virtual void serving(const std::string& /*target*/) {}
};

class SimApp final : public App {
 public:
  SimApp(Kernel& k, const VersionSpec& spec, const bool& faults_on, FaultRecorder& rec)
      : k_(k), spec_(spec), faults_on_(faults_on), rec_(rec) {}
  void worker_init() override;
  AppResponse handle(const AppRequest& request) override;
  void respond(const AppRequest& request, Responder& out) override;

 private:
  Kernel& k_;
  VersionSpec spec_;
  const bool& faults_on_;
  FaultRecorder& rec_;
};

class SimLoader final : public AppLoader {
 public:
  SimLoader(Kernel& k, std::map<std::string, VersionSpec> versions, const bool& faults_on,
            FaultRecorder& rec)
      : k_(k), versions_(std::move(versions)), faults_on_(faults_on), rec_(rec) {}
  LoadResult load(const Version& version, const std::vector<std::string>& args) override;

 private:
  Kernel& k_;
  std::map<std::string, VersionSpec> versions_;
  const bool& faults_on_;
  FaultRecorder& rec_;
};

// Service time a request asks for with "?ms=N" (tests use it for long requests).
std::optional<Nanos> requested_service_time(const std::string& target);
// The body size a target asks for ("kb=N", at most 4096 KiB): the greeting padded with 'x'.
std::optional<std::size_t> requested_kib(const std::string& target);
// FNV-1a 64 of a request body, 16 hex digits: what an uploading client sends in X-Body-Fnv.
std::string body_fnv(std::string_view body);

}  // namespace zyg::sim
