// Detection in the plugin: the per-device behaviour counters, the periodic report on
// $SYS/smartproduct/behaviour (JSON, parts below 64 KiB, reset, bounded entries) and the
// quarantine (control commands, ACL decisions, refusal counting and log throttle).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "policy.hpp"
#include "test_support.hpp"

namespace sp::broker_plugin {
namespace {

using nlohmann::json;
using test::attempt;
using test::device_cert;
using test::test_options;

constexpr Access W = Access::kWrite;
constexpr Access R = Access::kRead;
constexpr Access S = Access::kSubscribe;
constexpr Access U = Access::kUnsubscribe;

int k1, k2, k3, kb;

Options with_interval(std::uint64_t ms) {
  Options o = test_options();
  o.behaviour_interval_ms = ms;
  return o;
}

std::vector<json> parse_all(const std::vector<Publication>& pubs) {
  std::vector<json> out;
  for (const auto& p : pubs) {
    EXPECT_EQ(p.topic, "$SYS/smartproduct/behaviour");
    EXPECT_FALSE(p.retain);
    EXPECT_LT(p.payload.size(), 65536u);
    out.push_back(json::parse(p.payload));
  }
  return out;
}

TEST(BehaviourOptions, IntervalDefaultsAndBounds) {
  auto parse = [](const std::string& v) {
    return parse_options({{"state_file", "/s"},
                          {"service_ca", "/r"},
                          {"device_ca_dir", "/d"},
                          {"behaviour_interval_ms", v}});
  };
  auto def = parse_options({{"state_file", "/s"}, {"service_ca", "/r"}, {"device_ca_dir", "/d"}});
  ASSERT_TRUE(def);
  EXPECT_EQ(def->behaviour_interval_ms, 10000u);
  for (const char* ok : {"0", "100", "10000", "3600000"}) {
    auto o = parse(ok);
    ASSERT_TRUE(o) << ok;
    EXPECT_EQ(o->behaviour_interval_ms, std::stoull(ok));
  }
  for (const char* bad : {"", "1", "99", "3600001", "-1", "10s", " 100"}) {
    auto o = parse(bad);
    ASSERT_FALSE(o) << bad;
    EXPECT_NE(o.error().find("behaviour_interval_ms"), std::string::npos);
  }
}

class Behaviour : public ::testing::Test {
 protected:
  Behaviour()
      : p_(with_interval(10000), {}, 77,
           [this](LogLevel, const std::string& m) { logs_.push_back(m); }) {
    p_.behaviour_tick(1000);  // starts the first interval
  }

  void connect(const void* key, const std::string& cn, char tag) {
    auto d = p_.authenticate(attempt(key, cn), device_cert(cn, tag), 0);
    ASSERT_EQ(d.outcome, AuthOutcome::kAccepted) << d.reason;
  }
  std::size_t log_count(const std::string& needle) const {
    std::size_t n = 0;
    for (const auto& l : logs_) n += l.find(needle) != std::string::npos;
    return n;
  }
  json control(const std::string& payload) {
    last_ = p_.handle_control("svc-backend", payload);
    EXPECT_TRUE(last_.authorized);
    return json::parse(last_.response).at("responses");
  }

  std::vector<std::string> logs_;
  Policy p_;
  ControlOutcome last_;
};

TEST_F(Behaviour, CountsMessagesBytesAndDeliveries) {
  connect(&k1, "SN1", 'A');
  p_.count_message(&k1, 10);
  p_.count_message(&k1, 50);
  p_.count_message(&k1, 20);
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/commands/SN1", R), AclResult::kAllow);
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "$aws/things/SN1/shadow/update/accepted", R),
            AclResult::kAllow);
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/commands/SN2", R), AclResult::kDeny);
  // Allowed publishes and subscribes are not counted by the ACL (MESSAGE counts publishes).
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", W), AclResult::kAllow);
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/commands/SN1/#", S), AclResult::kAllow);

  const auto b = p_.behaviour("SN1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->messages_sent, 3u);
  EXPECT_EQ(b->bytes_sent, 80u);
  EXPECT_EQ(b->max_message_bytes, 50u);
  EXPECT_EQ(b->messages_received, 2u);  // a refused read is not a delivery nor a failure
  EXPECT_EQ(b->authorization_failures, 0u);
  EXPECT_EQ(b->connection_attempts, 1u);
  EXPECT_EQ(b->addresses, std::vector<std::string>{"127.0.0.1"});
}

TEST_F(Behaviour, RefusedPublishSubscribeUnsubscribeAreAuthorizationFailures) {
  connect(&k1, "SN1", 'A');
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/telemetry/SN2", W), AclResult::kDeny);
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "#", S), AclResult::kDeny);
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "$SYS/#", U), AclResult::kDeny);
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/commands/SN2", R), AclResult::kDeny);
  EXPECT_EQ(p_.behaviour("SN1")->authorization_failures, 3u);
  EXPECT_EQ(p_.behaviour("SN1")->quarantine_refusals, 0u);
}

TEST_F(Behaviour, ServiceUsersAreNeverCounted) {
  auto d = p_.authenticate(attempt(&kb, "backend"), device_cert("svc-backend", 'D'), 0);
  ASSERT_EQ(d.outcome, AuthOutcome::kAccepted);
  p_.count_message(&kb, 100);
  EXPECT_EQ(p_.check_acl(&kb, "svc-backend", "x", W), AclResult::kDefer);
  EXPECT_FALSE(p_.behaviour("svc-backend"));
  EXPECT_EQ(p_.behaviour_entries(), 0u);
  EXPECT_TRUE(p_.behaviour_tick(20000).empty());
}

TEST_F(Behaviour, ConnectionAttemptsCountRefusalsButNotSighupRechecks) {
  connect(&k1, "SN1", 'A');
  // SIGHUP re-check of the same connection: not an attempt.
  EXPECT_EQ(p_.authenticate(attempt(&k1, "SN1"), device_cert("SN1", 'A'), 5).outcome,
            AuthOutcome::kReauthAccepted);
  // A refused attempt (client id mismatch) from another address counts for the CN.
  auto a = attempt(&k2, "SN9");
  a.address = "10.0.0.9";
  EXPECT_EQ(p_.authenticate(a, device_cert("SN1", 'A'), 6).outcome, AuthOutcome::kRejected);
  const auto b = p_.behaviour("SN1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->connection_attempts, 2u);
  EXPECT_EQ(b->addresses, (std::vector<std::string>{"127.0.0.1", "10.0.0.9"}));
  EXPECT_EQ(b->address_set.size(), 2u);
  // An invalid CN has no device to count for.
  EXPECT_EQ(p_.authenticate(attempt(&k3, "a/b"), device_cert("a/b"), 7).reason, "invalid_cn");
  EXPECT_FALSE(p_.behaviour("a/b"));
}

TEST_F(Behaviour, AddressesAreCapped) {
  for (int i = 0; i < 1100; ++i) {
    auto a = attempt(&k2, "SNX");  // client id mismatch: refused, still an attempt
    a.address = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    p_.authenticate(a, device_cert("SN1", 'A'), i);
  }
  const auto b = p_.behaviour("SN1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->connection_attempts, 1100u);
  EXPECT_EQ(b->addresses.size(), 16u);
  auto reports = parse_all(p_.behaviour_tick(11000));
  ASSERT_EQ(reports.size(), 1u);
  const auto& d = reports[0]["devices"][0];
  EXPECT_EQ(d["distinctAddresses"], 1000);
  EXPECT_EQ(d["addresses"].size(), 16u);
  EXPECT_EQ(d["addresses"][0], "10.0.0.0");
}

TEST_F(Behaviour, ReportJsonResetAndSeq) {
  connect(&k1, "SN1", 'A');
  connect(&k2, "SN2", 'B');
  p_.count_message(&k2, 7);
  EXPECT_TRUE(p_.behaviour_tick(5000).empty());  // interval not over
  auto reports = parse_all(p_.behaviour_tick(11000));
  ASSERT_EQ(reports.size(), 1u);
  const auto& r = reports[0];
  EXPECT_EQ(r["epoch"], 77);
  EXPECT_EQ(r["seq"], 1);
  EXPECT_EQ(r["fromMs"], 1000);
  EXPECT_EQ(r["toMs"], 11000);
  EXPECT_EQ(r["part"], 0);
  EXPECT_EQ(r["parts"], 1);
  ASSERT_EQ(r["devices"].size(), 2u);
  EXPECT_EQ(r["devices"][0],
            json::parse(R"({"id":"SN1","messagesSent":0,"bytesSent":0,"maxMessageBytes":0,
              "messagesReceived":0,"authorizationFailures":0,"quarantineRefusals":0,
              "connectionAttempts":1,"disconnects":0,"addresses":["127.0.0.1"],
              "distinctAddresses":1})"));
  EXPECT_EQ(r["devices"][1]["id"], "SN2");
  EXPECT_EQ(r["devices"][1]["messagesSent"], 1);
  EXPECT_EQ(r["devices"][1]["bytesSent"], 7);
  EXPECT_EQ(r["devices"][1]["maxMessageBytes"], 7);

  // Reset: connected devices keep an (empty) entry and their counting goes on.
  ASSERT_TRUE(p_.behaviour("SN1"));
  EXPECT_FALSE(p_.behaviour("SN1")->active());
  EXPECT_TRUE(p_.behaviour("SN1")->addresses.empty());
  // No activity: no report, and seq does not move.
  EXPECT_TRUE(p_.behaviour_tick(21000).empty());
  p_.count_message(&k1, 3);
  auto next = parse_all(p_.behaviour_tick(31000));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]["seq"], 2);
  EXPECT_EQ(next[0]["fromMs"], 21000);
  ASSERT_EQ(next[0]["devices"].size(), 1u);  // SN2 had no activity: left out
  EXPECT_EQ(next[0]["devices"][0]["id"], "SN1");
  EXPECT_EQ(next[0]["devices"][0]["messagesSent"], 1);
}

TEST_F(Behaviour, DisconnectedIdleDevicesAreDroppedAfterAReport) {
  connect(&k1, "SN1", 'A');
  connect(&k2, "SN2", 'B');
  ASSERT_TRUE(p_.on_disconnect(&k2, 10));
  EXPECT_EQ(p_.behaviour("SN2")->disconnects, 1u);
  auto reports = parse_all(p_.behaviour_tick(11000));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0]["devices"][1]["disconnects"], 1);
  EXPECT_FALSE(p_.behaviour("SN2"));  // reported, then dropped
  EXPECT_TRUE(p_.behaviour("SN1"));   // still connected
  EXPECT_EQ(p_.behaviour_entries(), 1u);
  // A refused attempt without a connection lives for one interval only.
  p_.authenticate(attempt(&k3, "SNX"), device_cert("SN3", 'C'), 0);
  EXPECT_EQ(p_.behaviour_entries(), 2u);
  EXPECT_EQ(parse_all(p_.behaviour_tick(21000)).size(), 1u);
  EXPECT_EQ(p_.behaviour_entries(), 1u);
  // After SN1 leaves its entry goes at the next report too.
  p_.on_disconnect(&k1, 22000);
  p_.behaviour_tick(31000);
  EXPECT_EQ(p_.behaviour_entries(), 0u);
  // Its key no longer counts anything.
  p_.count_message(&k1, 1);
  EXPECT_EQ(p_.behaviour_entries(), 0u);
}

TEST_F(Behaviour, AReusedConnectionKeyMovesToTheNewDevice) {
  connect(&k1, "SN1", 'A');
  connect(&k1, "SN2", 'B');  // the broker reused the pointer for another client
  p_.count_message(&k1, 5);
  EXPECT_EQ(p_.behaviour("SN1")->messages_sent, 0u);
  EXPECT_EQ(p_.behaviour("SN2")->messages_sent, 1u);
  p_.behaviour_tick(11000);
  EXPECT_FALSE(p_.behaviour("SN1"));  // no live connection any more
  EXPECT_TRUE(p_.behaviour("SN2"));
}

TEST_F(Behaviour, ReportJsonEscapesIdsAndAddresses) {
  const std::string cn = "quote\"back\\slash-\xC3\xA9";  // a valid CN
  auto a = attempt(&k1, cn);
  a.address =
      "bad\xFF\x01"
      "addr";
  ASSERT_EQ(p_.authenticate(a, device_cert(cn, 'A'), 0).outcome, AuthOutcome::kAccepted);
  auto reports = parse_all(p_.behaviour_tick(11000));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0]["devices"][0]["id"], cn);
  EXPECT_EQ(reports[0]["devices"][0]["addresses"][0],
            "bad\xEF\xBF\xBD\x01"
            "addr");
}

TEST_F(Behaviour, LargeReportsAreSplitIntoParts) {
  std::vector<int> keys(3000);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string cn = "device-with-a-longish-serial-number-" + std::to_string(i);
    for (int a = 0; a < 16; ++a) {
      auto at = attempt(&keys[i], "mismatch");
      at.address = "2001:db8:1234:5678:9abc:def0:" + std::to_string(a) + ":" + std::to_string(i);
      p_.authenticate(at, device_cert(cn, 'A'), 0);
    }
  }
  const auto pubs = p_.behaviour_tick(11000);
  auto reports = parse_all(pubs);
  ASSERT_GT(reports.size(), 10u);
  std::set<std::string> ids;
  std::string last;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i]["part"], i);
    EXPECT_EQ(reports[i]["parts"], reports.size());
    EXPECT_EQ(reports[i]["seq"], 1);
    EXPECT_EQ(reports[i]["toMs"], 11000);
    EXPECT_GT(pubs[i].payload.size(), 30000u);  // parts are filled, not one device each
    for (const auto& d : reports[i]["devices"]) {
      EXPECT_EQ(d["connectionAttempts"], 16);
      EXPECT_EQ(d["distinctAddresses"], 16);
      const auto id = d["id"].get<std::string>();
      EXPECT_LT(last, id);  // sorted across parts
      last = id;
      ids.insert(id);
    }
  }
  EXPECT_EQ(ids.size(), 3000u);
  EXPECT_EQ(p_.behaviour_entries(), 0u);
}

TEST(BehaviourOff, IntervalZeroCountsNothing) {
  Policy p(with_interval(0), {}, 1);
  p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 0);
  p.count_message(&k1, 10);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "#", S), AclResult::kDeny);
  EXPECT_EQ(p.behaviour_entries(), 0u);
  EXPECT_EQ(p.find_connection(&k1)->behaviour, nullptr);
  for (std::int64_t t = 0; t < 100000; t += 5000) EXPECT_TRUE(p.behaviour_tick(t).empty());
}

// --- quarantine -----------------------------------------------------------------------------

TEST_F(Behaviour, QuarantineCommandsChangeTheStateWithoutKicking) {
  connect(&k1, "SN1", 'A');
  auto r = control(
      R"({"commands":[{"command":"quarantine","username":"SN1","id":1},
                      {"command":"quarantine","username":"SN7","id":2}]})");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], json::parse(R"({"command":"quarantine","id":1})"));
  EXPECT_EQ(r[1], json::parse(R"({"command":"quarantine","id":2})"));  // unknown: fine
  EXPECT_TRUE(last_.state_changed);
  EXPECT_TRUE(last_.kick_client_ids.empty());
  EXPECT_EQ(p_.state().quarantined_usernames, (StringSet{"SN1", "SN7"}));
  EXPECT_NE(p_.find_connection(&k1), nullptr);  // still connected

  r = control(R"({"commands":[{"command":"release","username":"SN1","id":"x"},
                              {"command":"release","username":"SN9"}]})");
  EXPECT_EQ(r[0], json::parse(R"({"command":"release","id":"x"})"));
  EXPECT_FALSE(r[1].contains("error"));  // releasing a device not quarantined is harmless
  EXPECT_TRUE(last_.state_changed);
  EXPECT_EQ(p_.state().quarantined_usernames, StringSet{"SN7"});
}

TEST_F(Behaviour, QuarantineCommandErrors) {
  auto r = control(R"({"commands":[{"command":"quarantine"},
                                   {"command":"quarantine","username":""},
                                   {"command":"quarantine","username":5},
                                   {"command":"quarantine","username":"svc-backend"},
                                   {"command":"release"}]})");
  ASSERT_EQ(r.size(), 5u);
  for (const auto& e : r) EXPECT_TRUE(e.contains("error")) << e.dump();
  EXPECT_EQ(r[3]["error"], "service users are not quarantined");
  EXPECT_TRUE(p_.state().quarantined_usernames.empty());
}

TEST_F(Behaviour, AQuarantinedDeviceKeepsOnlyItsShadowAndCommandResponses) {
  connect(&k1, "SN1", 'A');
  connect(&k2, "SN2", 'B');
  control(R"({"commands":[{"command":"quarantine","username":"SN1"}]})");
  for (const char* t :
       {"smartproduct/telemetry/SN1", "smartproduct/event/SN1", "smartproduct/commands/SN1"}) {
    EXPECT_EQ(p_.check_acl(&k1, "SN1", t, W), AclResult::kDeny) << t;
  }
  for (const char* t : {"$aws/things/SN1/shadow/update", "$aws/things/SN1/shadow/get",
                        "$aws/things/SN1/shadow/delete", "smartproduct/commands/SN1/response"}) {
    EXPECT_EQ(p_.check_acl(&k1, "SN1", t, W), AclResult::kAllow) << t;
  }
  // Subscribes and deliveries are unchanged.
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/commands/SN1/#", S), AclResult::kAllow);
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "$aws/things/SN1/shadow/#", U), AclResult::kAllow);
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/commands/SN1", R), AclResult::kAllow);
  // A foreign topic stays an authorization failure, not a quarantine refusal.
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/telemetry/SN2", W), AclResult::kDeny);
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "$aws/things/SN2/shadow/update", W), AclResult::kDeny);
  // Other devices are not affected (segment-exact: SN1 is not SN10 either).
  EXPECT_EQ(p_.check_acl(&k2, "SN2", "smartproduct/telemetry/SN2", W), AclResult::kAllow);

  const auto b = p_.behaviour("SN1");
  EXPECT_EQ(b->quarantine_refusals, 3u);
  EXPECT_EQ(b->authorization_failures, 2u);
  EXPECT_EQ(b->messages_received, 1u);
  EXPECT_EQ(p_.behaviour("SN2")->quarantine_refusals, 0u);

  auto reports = parse_all(p_.behaviour_tick(11000));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0]["devices"][0]["quarantineRefusals"], 3);
  EXPECT_EQ(reports[0]["devices"][0]["authorizationFailures"], 2);

  control(R"({"commands":[{"command":"release","username":"SN1"}]})");
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", W), AclResult::kAllow);
  EXPECT_EQ(p_.behaviour("SN1")->quarantine_refusals, 0u);
}

TEST_F(Behaviour, QuarantineAppliesToOfflineSessionsAndWithReportsOff) {
  Policy off(with_interval(0), {}, 1);
  off.handle_control("svc-backend", R"({"commands":[{"command":"quarantine","username":"SN1"}]})");
  EXPECT_EQ(off.check_acl(&k3, "SN1", "smartproduct/telemetry/SN1", W), AclResult::kDeny);
  EXPECT_EQ(off.check_acl(&k3, "SN1", "$aws/things/SN1/shadow/get", W), AclResult::kAllow);
}

TEST_F(Behaviour, QuarantineRefusalsAreLoggedOncePerInterval) {
  connect(&k1, "SN1", 'A');
  connect(&k2, "SN2", 'B');
  control(R"({"commands":[{"command":"quarantine","username":"SN1"},
                          {"command":"quarantine","username":"SN2"}]})");
  for (int i = 0; i < 100; ++i) {
    p_.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", W);
    p_.check_acl(&k2, "SN2", "smartproduct/telemetry/SN2", W);
  }
  EXPECT_EQ(log_count("quarantined device 'SN1'"), 1u);
  EXPECT_EQ(log_count("quarantined device 'SN2'"), 1u);
  p_.behaviour_tick(5000);
  p_.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", W);
  EXPECT_EQ(log_count("quarantined device 'SN1'"), 1u);
  p_.behaviour_tick(11000);  // next interval
  p_.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", W);
  EXPECT_EQ(log_count("quarantined device 'SN1'"), 2u);
}

TEST_F(Behaviour, SetStateCarriesQuarantine) {
  auto r = control(
      R"({"commands":[{"command":"setState","state":{"quarantinedUsernames":["SN1","SN2"]}}]})");
  EXPECT_FALSE(r[0].contains("error")) << r[0].dump();
  EXPECT_EQ(p_.state().quarantined_usernames, (StringSet{"SN1", "SN2"}));
  // A whole state without the key (an older daemon) means nobody is quarantined.
  control(R"({"commands":[{"command":"setState","state":{"revokedUsernames":[]}}]})");
  EXPECT_TRUE(p_.state().quarantined_usernames.empty());
  r = control(R"({"commands":[{"command":"setState","state":{"quarantinedUsernames":[3]}}]})");
  EXPECT_TRUE(r[0].contains("error"));
}

}  // namespace
}  // namespace sp::broker_plugin
