// The control protocol's request parser and reply lines (core/control.hpp).
#include "core/control.hpp"

#include <gtest/gtest.h>

namespace zyg::control {
namespace {

std::string error_of(std::string_view line) {
  auto r = parse(line);
  auto* why = std::get_if<std::string>(&r);
  return why ? *why : "";
}

TEST(ControlParse, StatusDeployScale) {
  EXPECT_TRUE(std::holds_alternative<Status>(std::get<Request>(parse("status"))));
  EXPECT_TRUE(std::holds_alternative<Deploy>(std::get<Request>(parse(" deploy\r"))));
  EXPECT_EQ(std::get<Scale>(std::get<Request>(parse("scale 7"))).workers, 7);
  EXPECT_EQ(std::get<Scale>(std::get<Request>(parse("scale\t0"))).workers, 0);
}

TEST(ControlParse, RollbackAndStop) {
  EXPECT_TRUE(std::holds_alternative<Rollback>(std::get<Request>(parse("rollback"))));
  EXPECT_FALSE(std::get<Stop>(std::get<Request>(parse("stop"))).fast);
  EXPECT_TRUE(std::get<Stop>(std::get<Request>(parse("stop fast"))).fast);
  EXPECT_NE(error_of("stop now").find("stop takes nothing or 'fast'"), std::string::npos);
  EXPECT_NE(error_of("rollback A").find("takes no argument"), std::string::npos);
}

TEST(ControlParse, EverythingElseIsRefusedWithAReason) {
  EXPECT_NE(error_of("").find("empty request"), std::string::npos);
  EXPECT_NE(error_of("reboot").find("unknown request 'reboot'"), std::string::npos);
  EXPECT_NE(error_of("status now").find("takes no argument"), std::string::npos);
  EXPECT_NE(error_of("deploy /etc").find("takes no argument"), std::string::npos);
  for (const char* bad : {"scale", "scale -1", "scale 1.5", "scale 2x", "scale 99999999999"}) {
    EXPECT_NE(error_of(bad).find("scale takes a worker count"), std::string::npos) << bad;
  }
  // What a client sent is echoed printable and short.
  const std::string echoed = error_of(std::string("\x01\xff") + std::string(100, 'a'));
  EXPECT_NE(echoed.find("'??aaaa"), std::string::npos) << echoed;
  EXPECT_NE(echoed.find("...'"), std::string::npos) << echoed;
  EXPECT_LT(echoed.size(), 150u);  // 40 echoed bytes at most, and the list of requests
}

TEST(ControlReply, LinesAreJsonEvenForBytesThatAreNotUtf8) {
  const std::string line = error_reply(std::string("bad \xff byte"));
  ASSERT_EQ(line.back(), '\n');
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["ok"], false);
  EXPECT_NE(j["error"].get<std::string>().find("bad "), std::string::npos);
}

TEST(ControlReply, StatusCarriesFailuresAndProcesses) {
  StatusSnapshot s;
  s.budget = 4;
  s.serving = "releases/A";
  s.failures.push_back({"releases/B", "failed to load: boom"});
  ProcessInfo w;
  w.role = Role::worker;
  w.id = 3;
  w.pid = 1234;
  w.version = "releases/A";
  w.state = "ready";
  s.processes.push_back(w);
  ProcessInfo z;
  z.role = Role::zygote;
  z.id = 2;
  z.pid = 1231;
  z.version = "releases/A";
  z.state = "loaded";
  z.app = "python 3.11.2 WSGI app:application (virtualenv venv)";
  s.processes.push_back(z);
  s.workers.ready = 1;
  s.front.pid = 1230;
  s.front.connections = 7;
  s.front.handoffs = 9;
  s.front.restarts = 1;
  const auto j = to_json(s);
  EXPECT_EQ(j["failures"][0]["version"], "releases/B");
  EXPECT_EQ(j["failures"][0]["reason"], "failed to load: boom");
  EXPECT_EQ(j["processes"][0]["pid"], 1234);
  EXPECT_EQ(j["processes"][0]["role"], "worker");
  EXPECT_FALSE(j["processes"][0].contains("app"));  // only zygotes load an app
  EXPECT_EQ(j["processes"][1]["app"], "python 3.11.2 WSGI app:application (virtualenv venv)");
  EXPECT_EQ(j["workers"]["total"], 1);
  EXPECT_EQ(j["front"]["pid"], 1230);
  EXPECT_EQ(j["front"]["connections"], 7);
  EXPECT_EQ(j["front"]["handoffs"], 9);
  EXPECT_EQ(j["front"]["restarts"], 1);
}

}  // namespace
}  // namespace zyg::control
