// Options, identity checks, ACL decisions and presence events of the broker plugin core.

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

int k1, k2, k3;  // addresses used as connection keys

// ---------------------------------------------------------------- options

TEST(ParseOptions, DefaultsApplyWhenOnlyStateFileGiven) {
  auto o = parse_options({{"state_file", "/var/lib/x.json"},
                          {"service_ca", "/etc/sp/root.crt"},
                          {"device_ca_dir", "/etc/sp/device-cas"}});
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->service_ca, "/etc/sp/root.crt");
  EXPECT_EQ(o->device_ca_dir, "/etc/sp/device-cas");
  EXPECT_EQ(o->state_file, "/var/lib/x.json");
  EXPECT_EQ(o->service_users, StringSet{"svc-backend"});
  EXPECT_EQ(o->telemetry_topic, "smartproduct/telemetry");
  EXPECT_EQ(o->event_topic, "smartproduct/event");
  EXPECT_EQ(o->command_topic, "smartproduct/commands");
  EXPECT_EQ(o->shadow_prefix, "$aws/things");
  EXPECT_FALSE(o->require_activation);
}

TEST(ParseOptions, ParsesEveryOption) {
  auto o = parse_options({{"state_file", "s.json"},
                          {"service_ca", "root.crt"},
                          {"device_ca_dir", "cas"},
                          {"service_users", " svc-a , svc-b,,"},
                          {"telemetry_topic", "t/tel"},
                          {"event_topic", "t/ev"},
                          {"command_topic", "t/cmd"},
                          {"shadow_prefix", "shadows"},
                          {"require_activation", "true"},
                          {"service_issuer_akis", "aa:bb, CC"}});
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->service_users, (StringSet{"svc-a", "svc-b"}));
  EXPECT_EQ(o->telemetry_topic, "t/tel");
  EXPECT_EQ(o->event_topic, "t/ev");
  EXPECT_EQ(o->command_topic, "t/cmd");
  EXPECT_EQ(o->shadow_prefix, "shadows");
  EXPECT_TRUE(o->require_activation);
  EXPECT_EQ(o->service_issuer_akis, (StringSet{"AABB", "CC"}));
}

TEST(ParseOptions, RejectsBadInput) {
  EXPECT_FALSE(parse_options({}));  // state_file missing
  // Without trust anchors no issuer can be verified: the broker must not start.
  EXPECT_FALSE(parse_options({{"state_file", "s"}, {"device_ca_dir", "d"}}));
  EXPECT_FALSE(parse_options({{"state_file", "s"}, {"service_ca", "r"}}));
  EXPECT_FALSE(parse_options({{"state_file", "s"}, {"bogus", "1"}}));  // unknown key
  EXPECT_FALSE(parse_options({{"state_file", "s"}, {"require_activation", "yes"}}));
  EXPECT_FALSE(parse_options({{"state_file", "s"}, {"command_topic", "a/+"}}));
  EXPECT_FALSE(parse_options({{"state_file", "s"}, {"telemetry_topic", "a/#"}}));
  EXPECT_FALSE(parse_options({{"state_file", "s"}, {"event_topic", "a/"}}));
  EXPECT_FALSE(parse_options({{"state_file", "s"}, {"shadow_prefix", ""}}));
  EXPECT_FALSE(parse_options({{"state_file", "s"}, {"service_users", "a/b"}}));
}

// ---------------------------------------------------------------- identity

TEST(ValidCn, AcceptsAndRefuses) {
  EXPECT_TRUE(is_valid_cn("SN1"));
  EXPECT_TRUE(is_valid_cn(std::string(128, 'x')));
  EXPECT_TRUE(is_valid_cn("Gerät-7"));
  EXPECT_FALSE(is_valid_cn(""));
  EXPECT_FALSE(is_valid_cn(std::string(129, 'x')));
  EXPECT_FALSE(is_valid_cn("SN+1"));
  EXPECT_FALSE(is_valid_cn("SN#1"));
  EXPECT_FALSE(is_valid_cn("SN/1"));
  EXPECT_FALSE(is_valid_cn("SN\n1"));
  EXPECT_FALSE(
      is_valid_cn(std::string("SN\0"
                              "1",
                              4)));
  EXPECT_FALSE(is_valid_cn("SN\x7f"));
  EXPECT_FALSE(is_valid_cn("SN\xc2\x85"));  // U+0085, a C1 control
  EXPECT_FALSE(is_valid_cn("SN\xff"));      // not UTF-8
  EXPECT_FALSE(is_valid_cn("\xc0\xaf"));    // overlong '/'
}

TEST(Authenticate, AcceptsDeviceAndAnnouncesConnected) {
  Policy p(test_options(), {}, 1700000000);
  auto d = p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 1234);
  ASSERT_EQ(d.outcome, AuthOutcome::kAccepted);
  EXPECT_EQ(d.username, "SN1");
  ASSERT_TRUE(d.presence);
  EXPECT_EQ(d.presence->topic, "$SYS/smartproduct/presence/SN1");
  EXPECT_FALSE(d.presence->retain);
  auto j = json::parse(d.presence->payload);
  EXPECT_EQ(j["event"], "connected");
  EXPECT_EQ(j["clientId"], "SN1");
  EXPECT_EQ(j["username"], "SN1");
  EXPECT_EQ(j["certFingerprint"], fp('A'));
  EXPECT_EQ(j["issuer"], "CN=Device CA,O=Acme");
  EXPECT_EQ(j["serial"], "01");
  EXPECT_EQ(j["aki"], "AA11");
  EXPECT_EQ(j["address"], "127.0.0.1");
  EXPECT_EQ(j["protocolVersion"], 5);
  EXPECT_EQ(j["connSeq"], 1);
  EXPECT_EQ(j["epoch"], 1700000000);
  EXPECT_EQ(j["tsMs"], 1234);
  EXPECT_FALSE(j.contains("reason"));
  EXPECT_EQ(p.connection_count(), 1u);
}

TEST(Authenticate, ConnSeqIncreasesPerAcceptedConnectionOnly) {
  Policy p(test_options(), {}, 1);
  auto a = p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 0);
  auto rej = p.authenticate(attempt(&k2, "SN9"), device_cert("SN2"), 0);
  auto b = p.authenticate(attempt(&k2, "SN2"), device_cert("SN2", 'B'), 0);
  EXPECT_EQ(rej.outcome, AuthOutcome::kRejected);
  EXPECT_EQ(json::parse(a.presence->payload)["connSeq"], 1);
  EXPECT_EQ(json::parse(rej.presence->payload)["connSeq"], 0);
  EXPECT_EQ(json::parse(b.presence->payload)["connSeq"], 2);
}

TEST(Authenticate, InvalidCnsAreRejectedOnInvalidTopic) {
  Policy p(test_options(), {}, 1);
  for (const std::string& cn : {std::string(), std::string("a+b"), std::string("a#"),
                                std::string("a/b"), std::string(129, 'c'), std::string("x\ty")}) {
    auto d = p.authenticate(attempt(&k1, cn), device_cert(cn), 5);
    ASSERT_EQ(d.outcome, AuthOutcome::kRejected) << cn;
    EXPECT_EQ(d.reason, "invalid_cn");
    ASSERT_TRUE(d.presence);
    EXPECT_EQ(d.presence->topic, "$SYS/smartproduct/presence/_invalid");
    auto j = json::parse(d.presence->payload);
    EXPECT_EQ(j["event"], "rejected");
    EXPECT_EQ(j["reason"], "invalid_cn");
  }
  EXPECT_EQ(p.connection_count(), 0u);
}

TEST(Authenticate, DeviceClientIdMustEqualCn) {
  Policy p(test_options(), {}, 1);
  auto d = p.authenticate(attempt(&k1, "SN2"), device_cert("SN1"), 0);
  ASSERT_EQ(d.outcome, AuthOutcome::kRejected);
  EXPECT_EQ(d.reason, "client_id_mismatch");
  EXPECT_EQ(d.presence->topic, "$SYS/smartproduct/presence/SN1");
  EXPECT_EQ(json::parse(d.presence->payload)["clientId"], "SN2");

  ConnectAttempt no_id = attempt(&k1, "");
  no_id.client_id.reset();
  auto d2 = p.authenticate(no_id, device_cert("SN1"), 0);
  EXPECT_EQ(d2.reason, "client_id_mismatch");
  EXPECT_TRUE(json::parse(d2.presence->payload)["clientId"].is_null());
}

TEST(Authenticate, ServiceUserMayUseAnyClientId) {
  Policy p(test_options(), {}, 1);
  auto d = p.authenticate(attempt(&k1, "backend-1"), device_cert("svc-backend"), 0);
  EXPECT_EQ(d.outcome, AuthOutcome::kAccepted);
  EXPECT_EQ(d.username, "svc-backend");
}

TEST(Authenticate, ServiceIssuerRestrictionWhenConfigured) {
  auto o = test_options();
  o.service_issuer_akis = {"ROOT01"};
  Policy p(o, {}, 1);
  auto bad = p.authenticate(attempt(&k1, "b"), device_cert("svc-backend", 'A', "AA11"), 0);
  EXPECT_EQ(bad.reason, "service_issuer_mismatch");
  auto good = p.authenticate(attempt(&k2, "b"), device_cert("svc-backend", 'B', "ROOT01"), 0);
  EXPECT_EQ(good.outcome, AuthOutcome::kAccepted);
}

TEST(Authenticate, RevokedFingerprintOrUsernameIsRefused) {
  BrokerState st;
  st.revoked_fingerprints.insert(fp('B'));
  st.revoked_usernames.insert("SN3");
  Policy p(test_options(), st, 1);
  EXPECT_EQ(p.authenticate(attempt(&k1, "SN2"), device_cert("SN2", 'B'), 0).reason, "revoked");
  EXPECT_EQ(p.authenticate(attempt(&k1, "SN3"), device_cert("SN3", 'C'), 0).reason, "revoked");
  // A new certificate for SN2 (other fingerprint) is fine: revocation is per certificate.
  EXPECT_EQ(p.authenticate(attempt(&k1, "SN2"), device_cert("SN2", 'D'), 0).outcome,
            AuthOutcome::kAccepted);
}

TEST(Authenticate, DisabledCaIsTheVerifiedCaNotTheAki) {
  BrokerState st;
  st.disabled_cas = {"AA11"};
  Policy p(test_options(), st, 1);
  auto by_id = p.authenticate(attempt(&k1, "SN1"), device_cert("SN1", 'A', "AA11"), 0);
  EXPECT_EQ(by_id.reason, "ca_disabled");
  // The AKI names the disabled CA, but the enabled BB22's key verified the signature.
  auto c = device_cert("SN1", 'A', "AA11");
  c.ca_id = "BB22";
  EXPECT_EQ(p.authenticate(attempt(&k1, "SN1"), c, 0).outcome, AuthOutcome::kAccepted);
  // The AKI names an enabled CA, but the disabled AA11's key verified it.
  auto d = device_cert("SN2", 'B', "BB22");
  d.ca_id = "AA11";
  EXPECT_EQ(p.authenticate(attempt(&k2, "SN2"), d, 0).reason, "ca_disabled");
}

TEST(Authenticate, IssuersNotVerifiedBySignatureAreRefused) {
  Policy p(test_options(), {}, 1);
  // A device certificate no registered CA's key verifies (forged AKI, unregistered intermediate).
  auto none = device_cert("SN1", 'A', "AA11");
  none.issuer_kind = IssuerKind::kNone;
  none.ca_id.clear();
  auto d = p.authenticate(attempt(&k1, "SN1"), none, 0);
  EXPECT_EQ(d.reason, "issuer_unverified");
  EXPECT_EQ(json::parse(d.presence->payload)["reason"], "issuer_unverified");
  // svc-backend whose signature a device CA's key verified (issue 10's forged service identity
  // after the AKI filter): refused, whatever its AKI.
  auto forged = device_cert("svc-backend", 'B', "ROOT01");
  forged.issuer_kind = IssuerKind::kDevice;
  EXPECT_EQ(p.authenticate(attempt(&k2, "x"), forged, 0).reason, "service_issuer_mismatch");
  forged.issuer_kind = IssuerKind::kNone;
  EXPECT_EQ(p.authenticate(attempt(&k2, "x"), forged, 0).reason, "service_issuer_mismatch");
  // A device CN verified against the service anchor only is no device of a registered CA.
  auto by_root = device_cert("SN3", 'C', "ROOT01");
  by_root.issuer_kind = IssuerKind::kService;
  EXPECT_EQ(p.authenticate(attempt(&k3, "SN3"), by_root, 0).reason, "issuer_unverified");
  EXPECT_EQ(p.connection_count(), 0u);
}

TEST(Authenticate, PresenceReportsTheVerifiedCa) {
  Policy p(test_options(), {}, 1);
  auto c = device_cert("SN1", 'A', "AA11");
  c.ca_id = "CC33";
  auto d = p.authenticate(attempt(&k1, "SN1"), c, 0);
  ASSERT_EQ(d.outcome, AuthOutcome::kAccepted);
  auto body = json::parse(d.presence->payload);
  EXPECT_EQ(body["aki"], "AA11");
  EXPECT_EQ(body["caId"], "CC33");
}

TEST(Authenticate, ReauthOfKnownConnectionIsNotReannounced) {
  Policy p(test_options(), {}, 1);
  ASSERT_EQ(p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 0).outcome,
            AuthOutcome::kAccepted);
  auto again = p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 10);
  EXPECT_EQ(again.outcome, AuthOutcome::kReauthAccepted);
  EXPECT_FALSE(again.presence);
  EXPECT_EQ(p.find_connection(&k1)->conn_seq, 1u);
  // Re-auth after a revocation refuses (the broker then disconnects the client).
  BrokerState st;
  st.revoked_fingerprints.insert(fp('A'));
  p.replace_state(st);
  auto denied = p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 20);
  EXPECT_EQ(denied.outcome, AuthOutcome::kRejected);
  EXPECT_EQ(denied.reason, "revoked");
}

TEST(Authenticate, ReusedKeyWithOtherIdentityIsANewConnection) {
  Policy p(test_options(), {}, 1);
  p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 0);
  auto d = p.authenticate(attempt(&k1, "SN2"), device_cert("SN2", 'B'), 0);
  EXPECT_EQ(d.outcome, AuthOutcome::kAccepted);
  EXPECT_EQ(json::parse(d.presence->payload)["connSeq"], 2);
}

TEST(Disconnect, OnlyAnnouncedConnectionsProduceDisconnected) {
  Policy p(test_options(), {}, 7);
  p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 0);
  p.authenticate(attempt(&k2, "SN9"), device_cert("SN2"), 0);  // rejected
  EXPECT_FALSE(p.on_disconnect(&k2, 1));
  EXPECT_FALSE(p.on_disconnect(&k3, 1));
  auto ev = p.on_disconnect(&k1, 99);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->topic, "$SYS/smartproduct/presence/SN1");
  auto j = json::parse(ev->payload);
  EXPECT_EQ(j["event"], "disconnected");
  EXPECT_EQ(j["connSeq"], 1);
  EXPECT_EQ(j["epoch"], 7);
  EXPECT_EQ(j["tsMs"], 99);
  EXPECT_FALSE(p.on_disconnect(&k1, 100));  // only once
  EXPECT_EQ(p.connection_count(), 0u);
}

TEST(Disconnect, TakeoverKeepsBothSequences) {
  Policy p(test_options(), {}, 1);
  p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 0);
  auto newer = p.authenticate(attempt(&k2, "SN1"), device_cert("SN1"), 0);
  EXPECT_EQ(json::parse(newer.presence->payload)["connSeq"], 2);
  auto old = p.on_disconnect(&k1, 1);
  EXPECT_EQ(json::parse(old->payload)["connSeq"], 1);
}

TEST(BrokerStarted, IsRetainedWithEpochAndPid) {
  Policy p(test_options(), {}, 42);
  auto m = p.broker_started(1234);
  EXPECT_EQ(m.topic, "$SYS/smartproduct/presence/_broker");
  EXPECT_TRUE(m.retain);
  EXPECT_EQ(json::parse(m.payload),
            (json{{"event", "broker_started"}, {"epoch", 42}, {"pid", 1234}}));
}

// ---------------------------------------------------------------- ACL

struct AclCase {
  const char* topic;
  Access access;
  bool allowed;
};

class DeviceAcl : public ::testing::TestWithParam<AclCase> {};

TEST_P(DeviceAcl, Sn1Matrix) {
  Policy p(test_options(), {}, 1);
  p.authenticate(attempt(&k1, "SN1"), device_cert("SN1"), 0);
  const auto& c = GetParam();
  EXPECT_EQ(p.check_acl(&k1, "SN1", c.topic, c.access),
            c.allowed ? AclResult::kAllow : AclResult::kDeny)
      << c.topic;
}

constexpr auto W = Access::kWrite;
constexpr auto S = Access::kSubscribe;
constexpr auto R = Access::kRead;
constexpr auto U = Access::kUnsubscribe;

INSTANTIATE_TEST_SUITE_P(
    Topics, DeviceAcl,
    ::testing::Values(
        // own publish topics
        AclCase{"smartproduct/telemetry/SN1", W, true}, AclCase{"smartproduct/event/SN1", W, true},
        AclCase{"smartproduct/commands/SN1", W, true},
        AclCase{"smartproduct/commands/SN1/response", W, true},
        AclCase{"$aws/things/SN1/shadow/update", W, true},
        AclCase{"$aws/things/SN1/shadow/get", W, true},
        AclCase{"$aws/things/SN1/shadow/delete", W, true},
        // foreign or non-listed publish topics
        AclCase{"smartproduct/telemetry/SN10", W, false},
        AclCase{"smartproduct/telemetry/SN", W, false},
        AclCase{"smartproduct/telemetry/SN2", W, false},
        AclCase{"smartproduct/telemetry/SN1/x", W, false},
        AclCase{"smartproduct/telemetry", W, false}, AclCase{"smartproduct/events/SN1", W, false},
        AclCase{"smartproduct/commands/SN1/other", W, false},
        AclCase{"smartproduct/commands/SN10/response", W, false},
        AclCase{"$aws/things/SN1/shadow/update/accepted", W, false},
        AclCase{"$aws/things/SN10/shadow/update", W, false},
        AclCase{"$aws/things/SN1/shadow", W, false},
        AclCase{"$SYS/smartproduct/presence/SN1", W, false},
        AclCase{"$CONTROL/smartproduct/v1", W, false},
        // subscribe filters
        AclCase{"smartproduct/commands/SN1", S, true},
        AclCase{"smartproduct/commands/SN1/#", S, true},
        AclCase{"smartproduct/commands/SN1/+", S, true},
        AclCase{"$aws/things/SN1/shadow/#", S, true},
        AclCase{"$aws/things/SN1/shadow/update/delta", S, true},
        AclCase{"$aws/things/SN1/shadow", S, true}, AclCase{"smartproduct/commands/+", S, false},
        AclCase{"smartproduct/commands/#", S, false}, AclCase{"smartproduct/#", S, false},
        AclCase{"#", S, false}, AclCase{"+/+/SN1", S, false}, AclCase{"$SYS/#", S, false},
        AclCase{"$SYS/smartproduct/presence/#", S, false},
        AclCase{"smartproduct/commands/SN10/#", S, false},
        AclCase{"smartproduct/commands/SN1#", S, false}, AclCase{"$aws/things/SN1/#", S, false},
        AclCase{"$aws/things/+/shadow/#", S, false}, AclCase{"$aws/things/SN1/shadowx", S, false},
        AclCase{"$share/g/smartproduct/commands/SN1", S, false},
        AclCase{"smartproduct/telemetry/SN1", S, false},
        // delivery
        AclCase{"smartproduct/commands/SN1", R, true},
        AclCase{"smartproduct/commands/SN1/response", R, true},
        AclCase{"$aws/things/SN1/shadow/update/delta", R, true},
        AclCase{"smartproduct/commands/SN10", R, false},
        AclCase{"smartproduct/telemetry/SN1", R, false},
        AclCase{"$SYS/smartproduct/presence/SN1", R, false},
        // unsubscribe follows subscribe
        AclCase{"smartproduct/commands/SN1/#", U, true}, AclCase{"#", U, false}));

TEST(Acl, Sn10IsNotSn1) {
  Policy p(test_options(), {}, 1);
  p.authenticate(attempt(&k2, "SN10"), device_cert("SN10"), 0);
  EXPECT_EQ(p.check_acl(&k2, "SN10", "smartproduct/telemetry/SN10", W), AclResult::kAllow);
  EXPECT_EQ(p.check_acl(&k2, "SN10", "smartproduct/telemetry/SN1", W), AclResult::kDeny);
  EXPECT_EQ(p.check_acl(&k2, "SN10", "smartproduct/commands/SN1/#", S), AclResult::kDeny);
  EXPECT_EQ(p.check_acl(&k2, "SN10", "smartproduct/commands/SN10/#", S), AclResult::kAllow);
}

TEST(Acl, ServiceUsersDeferAndUnknownUsersAreDenied) {
  Policy p(test_options(), {}, 1);
  EXPECT_EQ(p.check_acl(&k1, "svc-backend", "#", S), AclResult::kDefer);
  EXPECT_EQ(p.check_acl(&k1, "", "smartproduct/telemetry/", W), AclResult::kDeny);
  EXPECT_EQ(p.check_acl(&k1, "a/b", "smartproduct/telemetry/a/b", W), AclResult::kDeny);
}

TEST(Acl, UsesConfiguredTopics) {
  auto o = test_options();
  o.telemetry_topic = "t/tel";
  o.command_topic = "cmd";
  o.shadow_prefix = "sh";
  Policy p(o, {}, 1);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "t/tel/SN1", W), AclResult::kAllow);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", W), AclResult::kDeny);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "cmd/SN1/#", S), AclResult::kAllow);
  EXPECT_EQ(p.check_acl(&k1, "SN1", "sh/SN1/shadow/get", W), AclResult::kAllow);
}

TEST(Acl, OfflineSessionUsesUsernameWithoutConnection) {
  Policy p(test_options(), {}, 1);
  // Queued delivery to an offline persistent session: no live key, username still known.
  EXPECT_EQ(p.check_acl(&k3, "SN1", "smartproduct/commands/SN1", R), AclResult::kAllow);
}

}  // namespace
}  // namespace sp::broker_plugin
