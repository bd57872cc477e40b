// $CONTROL/smartproduct/v1 command handling and the activation gate.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "policy.hpp"
#include "test_support.hpp"

namespace sp::broker_plugin {
namespace {

using nlohmann::json;
using test::attempt;
using test::device_cert;
using test::fp;
using test::test_options;

int k1, k2, k3, k4;

class Control : public ::testing::Test {
 protected:
  Control() : p_(test_options(), {}, 77) {
    p_.authenticate(attempt(&k1, "SN1"), device_cert("SN1", 'A', "AA11"), 100);
    p_.authenticate(attempt(&k2, "SN2"), device_cert("SN2", 'B', "AA11"), 200);
    p_.authenticate(attempt(&k3, "SN3"), device_cert("SN3", 'C', "BB22"), 300);
    p_.authenticate(attempt(&k4, "backend"), device_cert("svc-backend", 'D', "CC33"), 400);
  }

  json responses(const ControlOutcome& o) {
    EXPECT_TRUE(o.authorized);
    return json::parse(o.response).at("responses");
  }

  Policy p_;
};

TEST_F(Control, NonServiceUserIsIgnored) {
  auto o = p_.handle_control("SN1", R"({"commands":[{"command":"revoke","username":"SN2"}]})");
  EXPECT_FALSE(o.authorized);
  EXPECT_TRUE(o.response.empty());
  EXPECT_TRUE(o.kick_client_ids.empty());
  EXPECT_FALSE(o.state_changed);
  EXPECT_TRUE(p_.state().revoked_usernames.empty());
  EXPECT_FALSE(p_.handle_control("", "{}").authorized);
}

TEST_F(Control, MalformedPayloadsGiveErrorEntries) {
  for (const char* bad : {"", "{", "not json", "[]", "{\"commands\":{}}", "{\"x\":1}"}) {
    auto o = p_.handle_control("svc-backend", bad);
    auto r = responses(o);
    ASSERT_EQ(r.size(), 1u) << bad;
    EXPECT_TRUE(r[0].contains("error")) << bad;
    EXPECT_FALSE(o.state_changed);
  }
}

TEST_F(Control, BadCommandsDoNotStopTheBatch) {
  auto o = p_.handle_control("svc-backend", R"({"commands":[
      42, {"id":5}, {"command":"frobnicate","id":"x"},
      {"command":"revoke"}, {"command":"revoke","fingerprint":"zz"},
      {"command":"revoke","username":7}, {"command":"disableCa"},
      {"command":"activate","id":[1,2]},
      {"command":"setState","state":{"revokedFingerprints":"nope"}},
      {"command":"unrevoke","username":"SN9","id":{"k":1}}]})");
  auto r = responses(o);
  ASSERT_EQ(r.size(), 10u);
  EXPECT_TRUE(r[0]["command"].is_null());
  EXPECT_TRUE(r[0].contains("error"));
  EXPECT_EQ(r[1]["id"], 5);
  EXPECT_TRUE(r[1].contains("error"));
  EXPECT_EQ(r[2]["command"], "frobnicate");
  EXPECT_EQ(r[2]["id"], "x");
  EXPECT_EQ(r[2]["error"], "unknown command");
  for (int i = 3; i <= 8; ++i) EXPECT_TRUE(r[i].contains("error")) << r[i].dump();
  EXPECT_EQ(r[7]["id"], json::array({1, 2}));
  EXPECT_FALSE(r[9].contains("error"));
  EXPECT_EQ(r[9]["id"], json({{"k", 1}}));
  EXPECT_TRUE(o.kick_client_ids.empty());
}

TEST_F(Control, RevokeByFingerprintKicksAndRefusesReconnect) {
  auto lower = std::string(64, 'b');
  lower.insert(2, ":");
  auto o = p_.handle_control("svc-backend", R"({"commands":[{"command":"revoke","fingerprint":")" +
                                                lower + R"(","id":1}]})");
  auto r = responses(o);
  EXPECT_EQ(r[0], (json{{"command", "revoke"}, {"id", 1}, {"kicked", 1}}));
  EXPECT_EQ(o.kick_client_ids, std::vector<std::string>{"SN2"});
  EXPECT_TRUE(o.state_changed);
  EXPECT_TRUE(p_.state().revoked_fingerprints.contains(fp('B')));
  EXPECT_EQ(p_.authenticate(attempt(&k2, "SN2"), device_cert("SN2", 'B'), 0).reason, "revoked");

  auto un = p_.handle_control(
      "svc-backend", R"({"commands":[{"command":"unrevoke","fingerprint":")" + fp('B') + R"("}]})");
  EXPECT_EQ(responses(un)[0], (json{{"command", "unrevoke"}}));
  EXPECT_TRUE(un.state_changed);
  EXPECT_TRUE(p_.state().revoked_fingerprints.empty());
}

TEST_F(Control, RevokeByUsernameKicksEveryConnectionOfIt) {
  p_.authenticate(attempt(&k4, "SN1"), device_cert("SN1", 'E'), 0);  // takeover in progress
  auto o =
      p_.handle_control("svc-backend", R"({"commands":[{"command":"revoke","username":"SN1"}]})");
  EXPECT_EQ(responses(o)[0]["kicked"], 2);
  EXPECT_EQ(o.kick_client_ids, std::vector<std::string>{"SN1"});  // deduplicated by client id
  EXPECT_EQ(p_.authenticate(attempt(&k1, "SN1"), device_cert("SN1", 'F'), 0).reason, "revoked");
}

TEST_F(Control, KickDeviceDisconnectsItWithoutTakingRightsAway) {
  auto o = p_.handle_control("svc-backend",
                             R"({"commands":[{"command":"kickDevice","username":"SN2","id":9}]})");
  EXPECT_EQ(responses(o)[0], (json{{"command", "kickDevice"}, {"id", 9}, {"kicked", 1}}));
  EXPECT_EQ(o.kick_client_ids, std::vector<std::string>{"SN2"});
  EXPECT_FALSE(o.state_changed);
  // It may connect again: kicking is not revoking.
  EXPECT_TRUE(p_.state().revoked_usernames.empty());
  EXPECT_TRUE(p_.state().revoked_fingerprints.empty());
  // A service user and a missing username are refused with an error entry.
  auto svc = p_.handle_control("svc-backend",
                               R"({"commands":[{"command":"kickDevice","username":"svc-backend"},
                                     {"command":"kickDevice"}]})");
  auto r = responses(svc);
  EXPECT_TRUE(r[0].contains("error"));
  EXPECT_TRUE(r[1].contains("error"));
  EXPECT_TRUE(svc.kick_client_ids.empty());
}

TEST_F(Control, DisableCaKicksItsDevicesAndEnableRestores) {
  auto o =
      p_.handle_control("svc-backend", R"({"commands":[{"command":"disableCa","aki":"aa:11"}]})");
  EXPECT_EQ(responses(o)[0]["kicked"], 2);
  EXPECT_EQ(o.kick_client_ids, (std::vector<std::string>{"SN1", "SN2"}));
  EXPECT_TRUE(p_.state().disabled_cas.contains("AA11"));
  EXPECT_EQ(p_.authenticate(attempt(&k3, "SN5"), device_cert("SN5", 'E', "AA11"), 0).reason,
            "ca_disabled");
  auto e =
      p_.handle_control("svc-backend", R"({"commands":[{"command":"enableCa","aki":"AA11"}]})");
  EXPECT_TRUE(e.kick_client_ids.empty());
  EXPECT_TRUE(p_.state().disabled_cas.empty());
}

TEST_F(Control, SetStateReplacesSetsAndKicksNowRefused) {
  auto o = p_.handle_control("svc-backend", R"({"commands":[{"command":"setState","id":9,
      "state":{"revokedFingerprints":[")" + fp('C') +
                                                R"("],"revokedUsernames":[],
               "disabledCas":["BB22"],"activatedFingerprints":[]}}]})");
  auto r = responses(o);
  EXPECT_EQ(r[0]["kicked"], 1);
  EXPECT_EQ(o.kick_client_ids, std::vector<std::string>{"SN3"});
  EXPECT_EQ(p_.state().disabled_cas, StringSet{"BB22"});
  // Without a "state" wrapper the command object itself carries the sets.
  auto flat = p_.handle_control(
      "svc-backend", R"({"commands":[{"command":"setState","revokedUsernames":["SN1"]}]})");
  EXPECT_EQ(flat.kick_client_ids, std::vector<std::string>{"SN1"});
  EXPECT_TRUE(p_.state().disabled_cas.empty());
  EXPECT_EQ(p_.state().revoked_usernames, StringSet{"SN1"});
}

TEST_F(Control, ListConnectedReportsConnectionsInSeqOrder) {
  p_.on_disconnect(&k2, 0);
  auto r = responses(
      p_.handle_control("svc-backend", R"({"commands":[{"command":"listConnected","id":"l"}]})"));
  EXPECT_EQ(r[0]["id"], "l");
  EXPECT_EQ(r[0]["epoch"], 77);
  const auto& c = r[0]["clients"];
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0]["clientId"], "SN1");
  EXPECT_EQ(c[0]["username"], "SN1");
  EXPECT_EQ(c[0]["certFingerprint"], fp('A'));
  EXPECT_EQ(c[0]["aki"], "AA11");
  EXPECT_EQ(c[0]["issuer"], "CN=Device CA,O=Acme");
  EXPECT_EQ(c[0]["connSeq"], 1);
  EXPECT_EQ(c[0]["address"], "127.0.0.1");
  EXPECT_EQ(c[0]["protocolVersion"], 5);
  EXPECT_EQ(c[0]["connectedAtMs"], 100);
  EXPECT_EQ(c[1]["clientId"], "SN3");
  EXPECT_EQ(c[2]["username"], "svc-backend");
  EXPECT_EQ(c[2]["clientId"], "backend");
}

TEST(ActivationGate, DeviceHasNoRightsUntilActivated) {
  auto o = test_options();
  o.require_activation = true;
  Policy p(o, {}, 1);
  ASSERT_EQ(p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 0).outcome,
            AuthOutcome::kAccepted);  // may stay connected
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", Access::kWrite),
            AclResult::kDeny);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/commands/SN1/#", Access::kSubscribe),
            AclResult::kDeny);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/commands/SN1", Access::kRead), AclResult::kDeny);

  auto act = p.handle_control(
      "svc-backend", R"({"commands":[{"command":"activate","fingerprint":")" + fp('A') + R"("}]})");
  EXPECT_TRUE(act.state_changed);
  EXPECT_TRUE(act.kick_client_ids.empty());
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", Access::kWrite),
            AclResult::kAllow);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN2", Access::kWrite),
            AclResult::kDeny);
  // Offline persistent session: the last fingerprint seen for the username is used.
  p.on_disconnect(&k1, 0);
  EXPECT_EQ(p.check_acl(&k2, "SN1", "smartproduct/commands/SN1", Access::kRead), AclResult::kAllow);
  EXPECT_EQ(p.check_acl(&k2, "SN7", "smartproduct/commands/SN7", Access::kRead), AclResult::kDeny);

  p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 0);
  auto deact =
      p.handle_control("svc-backend", R"({"commands":[{"command":"deactivate","fingerprint":")" +
                                          fp('A') + R"("}]})");
  EXPECT_EQ(json::parse(deact.response)["responses"][0]["kicked"], 1);
  EXPECT_EQ(deact.kick_client_ids, std::vector<std::string>{"SN1"});
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", Access::kWrite),
            AclResult::kDeny);
  // Service users are never gated.
  EXPECT_EQ(p.check_acl(&k1, "svc-backend", "x", Access::kWrite), AclResult::kDefer);
}

TEST(ActivationGate, RegisteredSerialFromAnAutoActivatingCaIsPreAuthorized) {
  auto o = test_options();
  o.require_activation = true;
  BrokerState st;
  st.auto_activate_cas = {"AA11"};
  Policy p(o, st, 1);
  p.authenticate(attempt(&k1, "SN1"), device_cert("SN1", 'A', "AA11"), 0);
  p.authenticate(attempt(&k2, "SN2"), device_cert("SN2", 'B', "BB22"), 0);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", Access::kWrite),
            AclResult::kDeny);  // not registered yet

  auto reg = p.handle_control("svc-backend", R"({"commands":[
      {"command":"registerDevice","username":"SN1"},{"command":"registerDevice","username":"SN2"},
      {"command":"registerDevice"}]})");
  EXPECT_TRUE(reg.state_changed);
  EXPECT_TRUE(json::parse(reg.response)["responses"][2].contains("error"));
  EXPECT_EQ(p.state().registered_usernames, (StringSet{"SN1", "SN2"}));
  // Registered and from an auto-activating CA: rights at once, only on its own topics.
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", Access::kWrite),
            AclResult::kAllow);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN2", Access::kWrite),
            AclResult::kDeny);
  // Registered, but its CA does not auto-activate: still gated.
  EXPECT_EQ(p.check_acl(&k2, "SN2", "smartproduct/telemetry/SN2", Access::kWrite),
            AclResult::kDeny);

  auto unreg = p.handle_control(
      "svc-backend", R"({"commands":[{"command":"unregisterDevice","username":"SN1"}]})");
  EXPECT_TRUE(unreg.kick_client_ids.empty());
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", Access::kWrite),
            AclResult::kDeny);
}

TEST(ActivationGate, PreAuthorizationFollowsTheVerifiedCaNotTheAki) {
  auto o = test_options();
  o.require_activation = true;
  BrokerState st;
  st.auto_activate_cas = {"AA11"};
  st.registered_usernames = {"SN1", "SN2"};
  Policy p(o, st, 1);
  auto claims = device_cert("SN1", 'A', "AA11");   // AKI names the auto-activating CA ...
  claims.ca_id = "BB22";                           // ... but BB22's key signed it
  auto genuine = device_cert("SN2", 'B', "BB22");  // and the other way round
  genuine.ca_id = "AA11";
  p.authenticate(attempt(&k1, "SN1"), claims, 0);
  p.authenticate(attempt(&k2, "SN2"), genuine, 0);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", Access::kWrite),
            AclResult::kDeny);
  EXPECT_EQ(p.check_acl(&k2, "SN2", "smartproduct/telemetry/SN2", Access::kWrite),
            AclResult::kAllow);
}

TEST(ControlTrust, CaChangesAskTheGlueToReReadTheTrustAnchors) {
  Policy p(test_options(), {}, 1);
  for (const char* cmd :
       {R"({"command":"setState","state":{}})", R"({"command":"disableCa","aki":"AA11"})",
        R"({"command":"enableCa","aki":"AA11"})"}) {
    auto o = p.handle_control("svc-backend", std::string(R"({"commands":[)") + cmd + "]}");
    EXPECT_TRUE(o.trust_changed) << cmd;
  }
  auto o = p.handle_control("svc-backend", R"({"commands":[{"command":"revoke","username":"X"}]})");
  EXPECT_FALSE(o.trust_changed);
}

TEST(ActivationGate, OffByDefault) {
  Policy p(test_options(), {}, 1);
  p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 0);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", Access::kWrite),
            AclResult::kAllow);
}

}  // namespace
}  // namespace sp::broker_plugin
