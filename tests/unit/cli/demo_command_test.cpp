// `smartproductctl demo`: the part that works straight on the instance (account, catalog, CA) is
// idempotent and needs no daemon; the registration needs one (here none answers). The end-to-end
// run with a daemon and simulated devices is tests/integration/test_demo.py.
#include "demo_command.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "init_command.hpp"

namespace sp::cli {
namespace {

namespace fs = std::filesystem;

class DemoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sp_demo_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    fs::create_directory(tmp_ / "bin");
    InitOptions init;
    init.dir = tmp_ / "inst";
    // Nothing listens there: the demo's wait for /readyz fails at once (wait_s 0).
    init.http_port = 1;
    init.mqtt_port = 18883;
    init.hostname = "test-host.example";
    init.exe_dir = tmp_ / "bin";
    auto r = run_init(init);
    ASSERT_TRUE(r) << r.error().message;
    options_.config = (tmp_ / "inst" / "smartproduct.toml").string();
    options_.devices = 2;
    options_.wait_s = 0;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  // prepare_demo's progress lines; it must stop at the daemon that is not there.
  std::string prepare_without_daemon() {
    std::istringstream no_input;
    std::ostringstream out;
    auto r = prepare_demo(options_, no_input, out);
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_NE(r.error().message.find("is not ready at https://"), std::string::npos);
    }
    return out.str() + (r ? "" : "error: " + r.error().message);
  }

  fs::path tmp_;
  DemoOptions options_;
};

TEST_F(DemoTest, AccountCatalogAndCaAreMadeOnceAndReused) {
  const auto first = prepare_without_daemon();
  EXPECT_NE(first.find("account:  created "), std::string::npos) << first;
  EXPECT_NE(first.find("demo@example.com (user, verified)"), std::string::npos) << first;
  EXPECT_NE(first.find("catalog:  2 entries (2 new, 0 there already)"), std::string::npos) << first;
  EXPECT_NE(first.find("CA:       demo (created, managed)"), std::string::npos) << first;

  const fs::path saved = tmp_ / "inst" / "demo" / "account";
  struct stat st {};
  ASSERT_EQ(::stat(saved.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  std::ifstream in(saved);
  std::string email, password;
  std::getline(in, email);
  std::getline(in, password);
  EXPECT_EQ(email, "demo@example.com");
  EXPECT_EQ(password.rfind("demo-", 0), 0U) << password;

  const auto second = prepare_without_daemon();
  EXPECT_NE(second.find("account:  demo@example.com (exists)"), std::string::npos) << second;
  EXPECT_NE(second.find("catalog:  2 entries (0 new, 2 there already)"), std::string::npos)
      << second;
  EXPECT_NE(second.find("CA:       demo (exists)"), std::string::npos) << second;
  std::ifstream again(saved);
  std::string email2, password2;
  std::getline(again, email2);
  std::getline(again, password2);
  EXPECT_EQ(password2, password);  // not replaced
}

TEST_F(DemoTest, ExistingAccountWithoutKnownPasswordIsRefused) {
  prepare_without_daemon();
  fs::remove(tmp_ / "inst" / "demo" / "account");
  std::istringstream no_input;
  std::ostringstream out;
  auto r = prepare_demo(options_, no_input, out);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("the account demo@example.com exists"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("--password-stdin"), std::string::npos);

  // With its password on standard input it goes on (to the missing daemon).
  options_.password_stdin = true;
  std::istringstream wrong("not what was generated\n");
  auto given = prepare_demo(options_, wrong, out);
  ASSERT_FALSE(given);
  EXPECT_NE(given.error().message.find("is not ready"), std::string::npos);
}

TEST(DemoSimulatorCommand, RunsTheSimulatorForThePreparedDevices) {
  DemoOptions o;
  DemoSetup s;
  s.config_file = "/i/smartproduct.toml";
  s.cert_dir = "/i/demo/certs";
  s.serials = {"DEMO-00001", "DEMO-00002"};
  auto args = demo_simulator_command(o, s, "/b/smartproduct-sim", "/b/smartproductctl");
  const auto after = [&](const std::string& flag) {
    auto it = std::find(args.begin(), args.end(), flag);
    return it == args.end() || it + 1 == args.end() ? std::string("<none>") : *(it + 1);
  };
  ASSERT_GE(args.size(), 2U);
  EXPECT_EQ(args[0], "/b/smartproduct-sim");
  EXPECT_EQ(args[1], "run");
  EXPECT_EQ(after("--config"), "/i/smartproduct.toml");
  EXPECT_EQ(after("--devices"), "2");
  EXPECT_EQ(after("--prefix"), "DEMO-");
  EXPECT_EQ(after("--ca"), "demo");
  EXPECT_EQ(after("--cert-dir"), "/i/demo/certs");
  EXPECT_EQ(after("--ctl"), "/b/smartproductctl");
  EXPECT_EQ(after("--duration-s"), "<none>");
  o.duration_s = 2.5;
  args = demo_simulator_command(o, s, "sim", "ctl");
  EXPECT_EQ(after("--duration-s"), "2.5");
}

}  // namespace
}  // namespace sp::cli
