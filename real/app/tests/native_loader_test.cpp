// NativeLoader against the example modules (examples/): each test builds release directories
// under a fresh mkdtemp directory, copies a module into them and loads it from there.
#include "real/app/native_loader.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace zyg::real {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class NativeLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "zygote-native-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Creates <root>/<name>/ holding `module` copied as `as` and, if given, a testapp.conf.
  std::string release(const std::string& name, const char* module, const std::string& as,
                      const std::string& conf = "") {
    const fs::path dir = root_ / name;
    fs::create_directories(dir);
    fs::copy_file(module, dir / as, fs::copy_options::overwrite_existing);
    if (!conf.empty()) std::ofstream(dir / "testapp.conf") << conf;
    return dir.string();
  }

  static AppRequest get(const std::string& target) {
    AppRequest r;
    r.method = "GET";
    r.target = target;
    r.headers.push_back(Header{"Host", "example"});
    return r;
  }

  fs::path root_;
  NativeLoader loader_;
};

std::string greeting(const std::string& release) {
  return "testapp " + release + " pid " + std::to_string(getpid()) + "\n";
}

TEST_F(NativeLoaderTest, HelloServesItsReleaseName) {
  const std::string b = release("B", ZYGOTE_TEST_HELLO_SO, "hello.so");
  LoadResult r = loader_.load(b, {"hello"});
  ASSERT_NE(r.app, nullptr) << r.error;
  EXPECT_EQ(r.error, "");
  r.app->worker_init();
  for (int i = 0; i < 3; ++i) {
    const AppResponse resp = r.app->handle(get("/anything"));
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.body, "Hello from B\n");
    ASSERT_EQ(resp.headers.size(), 1u);
    EXPECT_EQ(resp.headers[0].name, "Content-Type");
  }
}

TEST_F(NativeLoaderTest, AppNameMayCarryTheSuffixAndTwoReleasesLoadSideBySide) {
  const std::string a = release("A", ZYGOTE_TEST_HELLO_SO, "hello.so");
  const std::string b = release("B", ZYGOTE_TEST_HELLO_SO, "hello.so");
  LoadResult ra = loader_.load(a, {"hello.so"});
  LoadResult rb = loader_.load(b + "/", {"hello"});
  ASSERT_NE(ra.app, nullptr) << ra.error;
  ASSERT_NE(rb.app, nullptr) << rb.error;
  EXPECT_EQ(ra.app->handle(get("/")).body, "Hello from A\n");
  EXPECT_EQ(rb.app->handle(get("/")).body, "Hello from B\n");
}

TEST_F(NativeLoaderTest, ArgumentsAfterTheAppNameReachInit) {
  const std::string b = release("B", ZYGOTE_TEST_HELLO_SO, "hello.so");
  const LoadResult r = loader_.load(b, {"hello", "--unexpected"});
  EXPECT_EQ(r.app, nullptr);
  EXPECT_NE(r.error.find("hello takes no arguments (got 1)"), std::string::npos) << r.error;
}

TEST_F(NativeLoaderTest, MissingObjectIsAClearError) {
  const std::string b = release("B", ZYGOTE_TEST_HELLO_SO, "hello.so");
  const LoadResult r = loader_.load(b, {"nothere"});
  EXPECT_EQ(r.app, nullptr);
  EXPECT_NE(r.error.find(b + "/nothere.so"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("dlopen failed"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("No such file"), std::string::npos) << r.error;  // dlerror()'s text
}

TEST_F(NativeLoaderTest, MissingAppNameIsAClearError) {
  const LoadResult r = loader_.load((root_ / "B").string(), {});
  EXPECT_EQ(r.app, nullptr);
  EXPECT_NE(r.error.find("no app name"), std::string::npos) << r.error;
}

TEST_F(NativeLoaderTest, NotASharedObjectIsAClearError) {
  fs::create_directories(root_ / "B");
  std::ofstream(root_ / "B" / "junk.so") << "not an ELF file\n";
  const LoadResult r = loader_.load((root_ / "B").string(), {"junk"});
  EXPECT_EQ(r.app, nullptr);
  EXPECT_NE(r.error.find("junk.so"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("dlopen failed"), std::string::npos) << r.error;
}

TEST_F(NativeLoaderTest, ObjectWithoutTheEntryPointIsAClearError) {
  const std::string b = release("B", ZYGOTE_TEST_NOSYM_SO, "app.so");
  const LoadResult r = loader_.load(b, {"app"});
  EXPECT_EQ(r.app, nullptr);
  EXPECT_NE(r.error.find(b + "/app.so"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("does not export zygote_app_init"), std::string::npos) << r.error;
}

TEST_F(NativeLoaderTest, AbiVersionMismatchIsRefused) {
  const std::string b = release("B", ZYGOTE_TEST_BADABI_SO, "badabi.so");
  const LoadResult r = loader_.load(b, {"badabi"});
  EXPECT_EQ(r.app, nullptr);
  EXPECT_NE(r.error.find("ABI version 999"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("speaks version 1"), std::string::npos) << r.error;
}

TEST_F(NativeLoaderTest, TestappLoadFailCarriesItsMessage) {
  const std::string b = release("B", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "load_fail 1\n");
  const LoadResult r = loader_.load(b, {"testapp"});
  EXPECT_EQ(r.app, nullptr);
  EXPECT_NE(r.error.find(b + "/testapp.so"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("configured to fail"), std::string::npos) << r.error;
}

TEST_F(NativeLoaderTest, TestappUnknownKeyFailsTheLoad) {
  const std::string b =
      release("B", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "# comment\nlatency_ms 1\nbogus 3\n");
  const LoadResult r = loader_.load(b, {"testapp"});
  EXPECT_EQ(r.app, nullptr);
  EXPECT_NE(r.error.find("line 3: unknown key \"bogus\""), std::string::npos) << r.error;
}

TEST_F(NativeLoaderTest, TestappWithoutConfServesItsGreeting) {
  const std::string b = release("B", ZYGOTE_TEST_TESTAPP_SO, "testapp.so");
  LoadResult r = loader_.load(b, {"testapp"});
  ASSERT_NE(r.app, nullptr) << r.error;
  r.app->worker_init();
  const AppResponse resp = r.app->handle(get("/"));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, greeting("B"));
}

TEST_F(NativeLoaderTest, TestappLoadMsSlowsTheLoad) {
  const std::string b = release("B", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "load_ms 150\n");
  const auto t0 = Clock::now();
  const LoadResult r = loader_.load(b, {"testapp"});
  const auto took = Clock::now() - t0;
  ASSERT_NE(r.app, nullptr) << r.error;
  EXPECT_GE(took, std::chrono::milliseconds(150));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(NativeLoaderTest, TestappQueryMsOverridesLatency) {
  const std::string b = release("B", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "latency_ms 100\n");
  LoadResult r = loader_.load(b, {"testapp"});
  ASSERT_NE(r.app, nullptr) << r.error;
  r.app->worker_init();
  const auto time = [&](const std::string& target) {
    const auto t0 = Clock::now();
    const AppResponse resp = r.app->handle(get(target));
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.body, greeting("B"));
    return Clock::now() - t0;
  };
  const auto configured = time("/");
  EXPECT_GE(configured, std::chrono::milliseconds(100));
  EXPECT_LT(configured, std::chrono::seconds(5));
  const auto longer = time("/slow?x=1&ms=300");
  EXPECT_GE(longer, std::chrono::milliseconds(300));
  EXPECT_LT(longer, std::chrono::seconds(5));
  EXPECT_LT(time("/?ms=0"), std::chrono::milliseconds(90));
}

long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0;
  long resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

TEST_F(NativeLoaderTest, TestappPreloadRaisesResidentMemory) {
  const std::string b = release("B", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "preload_mib 8\n");
  const long before = resident_bytes();
  const LoadResult r = loader_.load(b, {"testapp"});
  const long after = resident_bytes();
  ASSERT_NE(r.app, nullptr) << r.error;
  constexpr long kMiB = 1024 * 1024;
  EXPECT_GE(after - before, 8 * kMiB) << "before " << before << " after " << after;
  EXPECT_LT(after - before, 64 * kMiB) << "before " << before << " after " << after;
}

TEST_F(NativeLoaderTest, TestappBodyBytesSetsTheBodySize) {
  const std::string big =
      release("big", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "body_bytes 3000000\n");
  const std::string tiny = release("tiny", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "body_bytes 5\n");
  LoadResult rb = loader_.load(big, {"testapp"});
  LoadResult rt = loader_.load(tiny, {"testapp"});
  ASSERT_NE(rb.app, nullptr) << rb.error;
  ASSERT_NE(rt.app, nullptr) << rt.error;
  const AppResponse b = rb.app->handle(get("/"));
  EXPECT_EQ(b.status, 200);
  ASSERT_EQ(b.body.size(), 3000000u);
  EXPECT_EQ(b.body.substr(0, greeting("big").size()), greeting("big"));
  EXPECT_EQ(b.body.back(), 'x');
  EXPECT_EQ(rt.app->handle(get("/")).body, "testa");
}

TEST_F(NativeLoaderTest, HandlerErrorBecomes500AndTheAppStaysUp) {
  const std::string b = release("B", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "error_on_request 2\n");
  LoadResult r = loader_.load(b, {"testapp"});
  ASSERT_NE(r.app, nullptr) << r.error;
  r.app->worker_init();
  EXPECT_EQ(r.app->handle(get("/")).status, 200);
  const AppResponse failed = r.app->handle(get("/"));
  EXPECT_EQ(failed.status, 500);
  EXPECT_EQ(failed.body, "Internal Server Error\n");  // what the app wrote was discarded
  const AppResponse next = r.app->handle(get("/"));
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, greeting("B"));
}

struct ChildOutcome {
  int status = 0;             // as waitpid reports it
  bool killed_by_us = false;  // still running at the limit, so SIGKILLed
};

// Runs `body` in a forked child (no core dumps) and reaps it, killing it after `limit`.
template <class F>
ChildOutcome run_in_child(F body, std::chrono::milliseconds limit) {
  const pid_t pid = fork();
  if (pid == 0) {
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    body();
    _exit(0);
  }
  ChildOutcome out;
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return out;
  }
  const auto deadline = Clock::now() + limit;
  for (;;) {
    const pid_t got = waitpid(pid, &out.status, WNOHANG);
    if (got == pid) return out;
    if (got < 0) {
      ADD_FAILURE() << "waitpid failed";
      return out;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &out.status, 0);
  out.killed_by_us = true;
  return out;
}

TEST_F(NativeLoaderTest, TestappCrashesOnTheConfiguredRequestInAChild) {
  const std::string b = release("B", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "crash_on_request 2\n");
  LoadResult r = loader_.load(b, {"testapp"});
  ASSERT_NE(r.app, nullptr) << r.error;
  const ChildOutcome out = run_in_child(
      [&] {
        r.app->worker_init();
        if (r.app->handle(get("/")).status != 200) _exit(10);  // the first is served
        r.app->handle(get("/"));                               // the second aborts
        _exit(11);
      },
      std::chrono::seconds(20));
  EXPECT_FALSE(out.killed_by_us);
  ASSERT_TRUE(WIFSIGNALED(out.status)) << "exit status " << out.status;
  EXPECT_EQ(WTERMSIG(out.status), SIGABRT);
}

TEST_F(NativeLoaderTest, AWorkerWhoseInitFailsExitsUnready) {
  const std::string b = release("B", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "worker_init_fail 1\n");
  LoadResult r = loader_.load(b, {"testapp"});
  ASSERT_NE(r.app, nullptr) << r.error;
  const ChildOutcome out = run_in_child(
      [&] {
        r.app->worker_init();  // must not return
        _exit(12);
      },
      std::chrono::seconds(20));
  EXPECT_FALSE(out.killed_by_us);
  ASSERT_TRUE(WIFEXITED(out.status)) << "status " << out.status;
  EXPECT_EQ(WEXITSTATUS(out.status), 70) << "a failure the supervisor counts, not a retirement";
}

TEST_F(NativeLoaderTest, TestappHangsOnTheConfiguredRequestInAChild) {
  const std::string b = release("B", ZYGOTE_TEST_TESTAPP_SO, "testapp.so", "hang_on_request 1\n");
  LoadResult r = loader_.load(b, {"testapp"});
  ASSERT_NE(r.app, nullptr) << r.error;
  const ChildOutcome out = run_in_child(
      [&] {
        r.app->worker_init();
        r.app->handle(get("/"));
        _exit(12);
      },
      std::chrono::milliseconds(500));
  EXPECT_TRUE(out.killed_by_us);
  ASSERT_TRUE(WIFSIGNALED(out.status)) << "exit status " << out.status;
  EXPECT_EQ(WTERMSIG(out.status), SIGKILL);
}

}  // namespace
}  // namespace zyg::real
