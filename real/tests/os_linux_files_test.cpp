// LinuxOs against the real kernel: files, usage and the clock.
#include "real/tests/os_linux_test_support.hpp"

namespace zyg::real::os_test {
namespace {

// ---------------------------------------------------------------------------------------------
// files and self-inspection

TEST_F(RealOs, WriteFileReplacesAtomicallyAndRealpathFollowsSymlinks) {
  char dir_template[] = "/tmp/zygote-real-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string state = dir + "/last-good";
  EXPECT_EQ(os.read_file(state).error, ENOENT);
  EXPECT_EQ(os.write_file(state, "releases/A"), 0);
  EXPECT_EQ(os.read_file(state).value, "releases/A");
  struct stat before {};
  ::stat(state.c_str(), &before);
  EXPECT_EQ(os.write_file(state, "releases/B\n"), 0);
  EXPECT_EQ(os.read_file(state).value, "releases/B\n");
  struct stat after {};
  ::stat(state.c_str(), &after);
  EXPECT_NE(before.st_ino, after.st_ino);  // replaced by rename, not rewritten in place
  EXPECT_FALSE(std::filesystem::exists(state + ".tmp"));
  EXPECT_EQ(os.write_file(dir + "/missing-dir/x", "y"), ENOENT);

  std::filesystem::create_directories(dir + "/releases/B");
  std::filesystem::create_directory_symlink("releases/B", dir + "/current");
  auto r = os.realpath(dir + "/current");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, std::filesystem::canonical(dir + "/releases/B").string());
  EXPECT_EQ(os.realpath(dir + "/nothing").error, ENOENT);

  const std::string big = dir + "/big";
  std::ofstream(big) << std::string(70 * 1024, 'x');
  EXPECT_EQ(os.read_file(big).error, EFBIG);
  std::filesystem::remove_all(dir);
}

TEST_F(RealOs, SpoolFilesAreUnnamedAndReadAtAnyOffset) {
  char dir_template[] = "/tmp/zygote-real-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  auto f = os.spool_file(dir);
  ASSERT_TRUE(f.ok()) << f.error;
  EXPECT_NE(::fcntl(f.value, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "a spool file has no name";
  const std::string body = "0123456789abcdef";
  for (int i = 0; i < 3; ++i) ASSERT_EQ(os.write(f.value, bytes_of(body)).value, body.size());
  char buf[8];
  auto r = os.read_at(f.value, 10, std::as_writable_bytes(std::span<char>(buf)));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(std::string(buf, r.value), "abcdef01");
  EXPECT_EQ(os.read_at(f.value, 46, std::as_writable_bytes(std::span<char>(buf))).value, 2u);
  EXPECT_EQ(os.read_at(f.value, 48, std::as_writable_bytes(std::span<char>(buf))).value, 0u);
  os.close(f.value);
  EXPECT_EQ(os.spool_file(dir + "/missing").error, ENOENT);
  std::filesystem::remove_all(dir);
}

TEST_F(RealOs, UsageAndClock) {
  const Nanos t0 = os.now();
  volatile std::uint64_t spin = 0;
  const Nanos deadline = clock_now() + 2s;
  while (os.usage().cpu == Nanos{0} && clock_now() < deadline) spin = spin + 1;
  const os::Usage u = os.usage();
  EXPECT_GT(u.cpu, Nanos{0});
  EXPECT_GT(u.rss_bytes, 1u << 20);
  EXPECT_GE(os.now(), t0);
  EXPECT_EQ(os.getpid(), ::getpid());
  EXPECT_EQ(os.getppid(), ::getppid());
}

}  // namespace
}  // namespace zyg::real::os_test
