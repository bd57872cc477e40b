// State JSON parsing and the atomic state file.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "policy.hpp"
#include "test_support.hpp"

namespace sp::broker_plugin {
namespace {

namespace fs = std::filesystem;
using test::fp;

class StateFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("sp_broker_state_" + std::to_string(rd()));
    fs::create_directories(dir_);
    path_ = (dir_ / "state.json").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& text) { std::ofstream(path_) << text; }
  std::string read() {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
  std::string path_;
};

BrokerState sample() {
  BrokerState st;
  st.revoked_fingerprints = {fp('A'), fp('B')};
  st.revoked_usernames = {"SN3"};
  st.disabled_cas = {"AA11", "CN=Old CA,O=Acme"};
  st.activated_fingerprints = {fp('C')};
  st.registered_usernames = {"SN1", "SN2"};
  st.auto_activate_cas = {"AA11"};
  st.quarantined_usernames = {"SN4", "SN2"};
  return st;
}

TEST(ParseState, NormalizesAndDefaults) {
  auto st = parse_state(R"({"revokedFingerprints":[")" + std::string(64, 'a') +
                        R"("],"disabledCas":["aa:bb","CN=X"],"unknown":1})");
  ASSERT_TRUE(st) << st.error();
  EXPECT_EQ(st->revoked_fingerprints, StringSet{fp('A')});
  EXPECT_EQ(st->disabled_cas, (StringSet{"AABB", "CN=X"}));
  EXPECT_TRUE(st->revoked_usernames.empty());
  EXPECT_TRUE(st->activated_fingerprints.empty());
  auto empty = parse_state("{}");
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, BrokerState{});
}

TEST(ParseState, RejectsMalformed) {
  EXPECT_FALSE(parse_state(""));
  EXPECT_FALSE(parse_state("{"));
  EXPECT_FALSE(parse_state("[]"));
  EXPECT_FALSE(parse_state(R"({"revokedFingerprints":"x"})"));
  EXPECT_FALSE(parse_state(R"({"revokedFingerprints":[1]})"));
  EXPECT_FALSE(parse_state(R"({"revokedFingerprints":["ABCD"]})"));  // not SHA-256 length
  EXPECT_FALSE(parse_state(R"({"activatedFingerprints":[")" + std::string(64, 'G') + R"("]})"));
  EXPECT_FALSE(parse_state(R"({"revokedUsernames":[""]})"));
}

TEST(SerializeState, RoundTripsAndIsSorted) {
  const auto text = serialize_state(sample());
  auto back = parse_state(text);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, sample());
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["revokedFingerprints"], nlohmann::json::array({fp('A'), fp('B')}));
  EXPECT_EQ(j["quarantinedUsernames"], nlohmann::json::array({"SN2", "SN4"}));
}

TEST(ParseState, QuarantinedUsernames) {
  auto st = parse_state(R"({"quarantinedUsernames":["SN1","SN2"]})");
  ASSERT_TRUE(st) << st.error();
  EXPECT_EQ(st->quarantined_usernames, (StringSet{"SN1", "SN2"}));
  // A state file written before quarantine existed has no such key: nobody is quarantined.
  auto old = parse_state(R"({"revokedUsernames":["SN3"],"registeredUsernames":[]})");
  ASSERT_TRUE(old) << old.error();
  EXPECT_TRUE(old->quarantined_usernames.empty());
  EXPECT_FALSE(parse_state(R"({"quarantinedUsernames":"SN1"})"));
  EXPECT_FALSE(parse_state(R"({"quarantinedUsernames":[1]})"));
  EXPECT_FALSE(parse_state(R"({"quarantinedUsernames":[""]})"));
}

TEST_F(StateFile, MissingFileIsEmptyState) {
  auto st = load_state_file(path_);
  ASSERT_TRUE(st) << st.error();
  EXPECT_EQ(*st, BrokerState{});
}

TEST_F(StateFile, MalformedFileIsAnError) {
  write("{\"revokedFingerprints\": [");
  auto st = load_state_file(path_);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find(path_), std::string::npos);
}

TEST_F(StateFile, SaveThenLoadRoundTrips) {
  ASSERT_TRUE(save_state_file(path_, sample()));
  auto st = load_state_file(path_);
  ASSERT_TRUE(st) << st.error();
  EXPECT_EQ(*st, sample());
  // No temp file left behind.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1u);
  struct stat sb {};
  ASSERT_EQ(::stat(path_.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0640u);
}

TEST_F(StateFile, SaveReplacesAndKeepsMode) {
  write("old");
  ASSERT_EQ(::chmod(path_.c_str(), 0604), 0);
  ASSERT_TRUE(save_state_file(path_, BrokerState{}));
  EXPECT_EQ(parse_state(read()).value(), BrokerState{});
  struct stat sb {};
  ASSERT_EQ(::stat(path_.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0604u);
}

TEST_F(StateFile, SaveIntoMissingDirectoryFails) {
  auto r = save_state_file((dir_ / "nope" / "state.json").string(), sample());
  EXPECT_FALSE(r);
}

TEST_F(StateFile, AnOldFileWithoutQuarantineLoadsAsNotQuarantined) {
  write(R"({"revokedFingerprints":[],"revokedUsernames":["SN3"],"disabledCas":[],
            "activatedFingerprints":[],"registeredUsernames":["SN1"],"autoActivateCas":[]})");
  auto st = load_state_file(path_);
  ASSERT_TRUE(st) << st.error();
  EXPECT_TRUE(st->quarantined_usernames.empty());
  EXPECT_EQ(st->revoked_usernames, StringSet{"SN3"});
}

TEST_F(StateFile, QuarantineSurvivesARestart) {
  Options o = test::test_options();
  o.state_file = path_;
  Policy p(o, {}, 1);
  auto out = p.handle_control("svc-backend",
                              R"({"commands":[{"command":"quarantine","username":"SN5"}]})");
  ASSERT_TRUE(out.state_changed);
  ASSERT_TRUE(save_state_file(path_, p.state()));
  EXPECT_NE(read().find("\"quarantinedUsernames\": [\n  \"SN5\"\n ]"), std::string::npos) << read();
  Policy restarted(o, load_state_file(path_).value(), 2);
  EXPECT_TRUE(restarted.is_quarantined("SN5"));
  int key = 0;
  restarted.authenticate(test::attempt(&key, "SN5"), test::device_cert("SN5"), 0);
  EXPECT_EQ(restarted.check_acl(&key, "SN5", "smartproduct/telemetry/SN5", Access::kWrite),
            AclResult::kDeny);
  EXPECT_EQ(restarted.check_acl(&key, "SN5", "$aws/things/SN5/shadow/update", Access::kWrite),
            AclResult::kAllow);
}

TEST_F(StateFile, ControlChangesSurviveAReload) {
  Options o = test::test_options();
  o.state_file = path_;
  Policy p(o, {}, 1);
  auto out =
      p.handle_control("svc-backend", R"({"commands":[{"command":"revoke","username":"SN5"}]})");
  ASSERT_TRUE(out.state_changed);
  ASSERT_TRUE(save_state_file(path_, p.state()));
  Policy restarted(o, load_state_file(path_).value(), 2);
  EXPECT_EQ(restarted.authenticate(test::attempt(&o, "SN5"), test::device_cert("SN5"), 0).reason,
            "revoked");
}

}  // namespace
}  // namespace sp::broker_plugin
