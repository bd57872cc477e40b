// Each audit check on a hand-made snapshot: what fires, with which severity and resource, and what
// does not. No SQLite, no files.

#include <gtest/gtest.h>

#include "smartproduct/audit/checks.hpp"
#include "smartproduct/audit/service.hpp"

namespace sp::audit {
namespace {

constexpr std::int64_t kNowMs = 1'780'000'000'000;
constexpr std::int64_t kNowS = kNowMs / 1000;
constexpr std::int64_t kDayS = 86400;

Snapshot base() {
  Snapshot s;
  s.now_ms = kNowMs;
  s.expiry_warning_days = 30;
  s.plugin.read = true;
  return s;
}

std::vector<Finding> run(CheckFn fn, const Snapshot& s) {
  std::vector<Finding> out;
  fn(s, out);
  return out;
}

DeviceCert cert(std::string fp, std::string device, std::string status, std::int64_t not_after_s,
                bool connected = false) {
  DeviceCert c;
  c.fingerprint = std::move(fp);
  c.device_id = std::move(device);
  c.ca_id = "CA1";
  c.status = std::move(status);
  c.not_after_s = not_after_s;
  c.connected = connected;
  return c;
}

Connection conn(std::string event, std::string client, std::string fp, std::string address,
                std::int64_t seq) {
  return Connection{client, std::move(event), client, std::move(fp), std::move(address), 1, seq,
                    kNowMs};
}

TEST(DeviceCertificateExpiring, ExpiringIsMediumExpiredIsHighFarAndRevokedAreFine) {
  auto s = base();
  s.device_certs = {cert("F1", "SN1", "ACTIVE", kNowS + kDayS),       // tomorrow
                    cert("F2", "SN2", "ACTIVE", kNowS - 10),          // expired
                    cert("F3", "SN3", "ACTIVE", kNowS + 31 * kDayS),  // beyond the window
                    cert("F4", "SN4", "REVOKED", kNowS + kDayS)};     // revoked: not judged
  auto f = run(device_certificate_expiring, s);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].check, "DEVICE_CERTIFICATE_EXPIRING_CHECK");
  EXPECT_EQ(f[0].resource_type, "certificate");
  EXPECT_EQ(f[0].resource_id, "F1");
  EXPECT_EQ(f[0].severity, Severity::kMedium);
  EXPECT_EQ(f[0].details["deviceId"], "SN1");
  EXPECT_NE(f[0].reason.find("expires in 1 day"), std::string::npos) << f[0].reason;
  EXPECT_EQ(f[1].resource_id, "F2");
  EXPECT_EQ(f[1].severity, Severity::kHigh);
  s.expiry_warning_days = 40;
  EXPECT_EQ(run(device_certificate_expiring, s).size(), 3u);
}

TEST(CaCertificateExpiring, RegisteredAndPlatformCas) {
  auto s = base();
  CaCert ca;
  ca.id = "AKI1";
  ca.name = "factory";
  ca.status = "ACTIVE";
  ca.not_after_s = kNowS + 5 * kDayS;
  CaCert gone = ca;
  gone.id = "AKI2";
  gone.status = "DEREGISTERED";
  s.cas = {ca, gone};
  s.platform_certs = {PlatformCert{"/pki/root-ca.crt", kNowS - 1, true, {}},
                      PlatformCert{"/pki/https.crt", kNowS - 1, false, {}}};
  auto f = run(ca_certificate_expiring, s);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].resource_id, "AKI1");
  EXPECT_EQ(f[0].severity, Severity::kMedium);
  EXPECT_EQ(f[1].resource_id, "/pki/root-ca.crt");
  EXPECT_EQ(f[1].severity, Severity::kHigh);
}

TEST(RevokedCaStillActive, TrustDirPluginStateAndConnectedDevices) {
  auto s = base();
  CaCert ok;
  ok.id = "OK";
  ok.name = "ok";
  ok.status = "INACTIVE";
  s.plugin.disabled_cas = {"OK", "CONNECTED"};
  CaCert in_dir = ok;
  in_dir.id = "INDIR";
  in_dir.status = "DEREGISTERED";
  in_dir.in_trust_dir = true;
  CaCert connected = ok;
  connected.id = "CONNECTED";
  connected.connected_devices = 2;
  CaCert active = ok;
  active.id = "ACTIVE";
  active.status = "ACTIVE";
  s.cas = {ok, in_dir, connected, active};
  auto f = run(revoked_ca_still_active, s);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].resource_id, "INDIR");
  EXPECT_NE(f[0].reason.find("trust directory"), std::string::npos);
  EXPECT_NE(f[0].reason.find("plugin's state does not refuse"), std::string::npos);
  EXPECT_EQ(f[1].resource_id, "CONNECTED");
  EXPECT_NE(f[1].reason.find("2 device(s)"), std::string::npos);
}

TEST(RevokedDeviceCertificateStillActive, ConnectedOrMissingFromPluginState) {
  auto s = base();
  s.plugin.revoked_fingerprints = {"R1", "R2"};
  s.device_certs = {cert("R1", "SN1", "REVOKED", kNowS + 99 * kDayS),        // fine
                    cert("R2", "SN2", "REVOKED", kNowS + 99 * kDayS, true),  // connected
                    cert("R3", "SN3", "REVOKED", kNowS + 99 * kDayS),        // not in the state
                    cert("A1", "SN4", "ACTIVE", kNowS + 99 * kDayS, true)};
  auto f = run(revoked_device_certificate_still_active, s);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].resource_id, "R2");
  EXPECT_EQ(f[0].details["connected"], true);
  EXPECT_EQ(f[1].resource_id, "R3");
  // An unreadable state file is not taken as "missing from it".
  s.plugin.read = false;
  EXPECT_EQ(run(revoked_device_certificate_still_active, s).size(), 1u);
}

TEST(Takeovers, ConnectedBeforeTheOldDisconnectedWithinOneBrokerEpoch) {
  std::vector<Connection> c = {conn("connected", "SN1", "F", "10.0.0.1", 1),
                               conn("disconnected", "SN1", "F", "10.0.0.1", 1),
                               conn("connected", "SN1", "F", "10.0.0.1", 2),  // plain reconnect
                               conn("connected", "SN1", "F", "10.0.0.2", 3),  // takeover of 2
                               conn("disconnected", "SN1", "F", "10.0.0.1", 2)};
  auto t = takeovers(c);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].old_connection->conn_seq, 2);
  EXPECT_EQ(t[0].new_connection->conn_seq, 3);
  // A new broker epoch ends every earlier connection.
  Connection restarted = conn("connected", "SN1", "F", "10.0.0.1", 1);
  restarted.broker_epoch = 2;
  c.push_back(restarted);
  EXPECT_EQ(takeovers(c).size(), 1u);
}

TEST(DeviceCertificateShared, TwoAddressesFightingWithOneCertificate) {
  auto s = base();
  s.connections = {
      conn("connected", "SN1", "F", "10.0.0.1", 1), conn("connected", "SN1", "F", "10.0.0.2", 2),
      conn("disconnected", "SN1", "F", "10.0.0.1", 1), conn("connected", "SN1", "F", "10.0.0.1", 3),
      conn("disconnected", "SN1", "F", "10.0.0.2", 2),
      // Same address taking over itself (a reconnect before the broker noticed).
      conn("connected", "SN2", "G", "10.0.0.9", 4), conn("connected", "SN2", "G", "10.0.0.9", 5)};
  auto f = run(device_certificate_shared, s);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "DEVICE_CERTIFICATE_SHARED_CHECK");
  EXPECT_EQ(f[0].severity, Severity::kCritical);
  EXPECT_EQ(f[0].resource_id, "F");
  EXPECT_EQ(f[0].details["takeovers"], 2);
  EXPECT_EQ(f[0].details["addresses"].size(), 2u);
}

TEST(ConflictingClientIds, TwoTakeoversInTheWindow) {
  auto s = base();
  s.connections = {conn("connected", "SN1", "F", "10.0.0.1", 1),
                   conn("connected", "SN1", "F", "10.0.0.1", 2)};
  EXPECT_TRUE(run(conflicting_client_ids, s).empty());  // one takeover: a reconnect
  s.connections.push_back(conn("connected", "SN1", "F", "10.0.0.1", 3));
  auto f = run(conflicting_client_ids, s);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].resource_type, "client-id");
  EXPECT_EQ(f[0].resource_id, "SN1");
  EXPECT_EQ(f[0].severity, Severity::kHigh);
}

constexpr const char* kGoodConf = R"(per_listener_settings false
allow_anonymous false
log_dest stderr
log_type error
log_type warning
listener 8883
cafile /pki/root-ca.crt
capath /broker/device-cas
certfile /pki/broker.crt
keyfile /pki/broker.key
require_certificate true
tls_version tlsv1.2
plugin /lib/mosquitto_smartproduct.so
plugin_opt_state_file /var/lib/state.json
plugin_opt_service_users svc-backend
acl_file /broker/services.acl
)";

constexpr const char* kGoodAcl = R"(# services
user svc-backend
topic readwrite smartproduct/#
topic readwrite $aws/things/#
topic read $SYS/#
)";

Snapshot with_broker(const std::string& conf, const std::string& acl) {
  auto s = base();
  s.broker = parse_broker_config(conf);
  s.broker.path = "/broker/mosquitto.conf";
  s.broker.acl = parse_acl(acl);
  s.broker.acl_read = true;
  return s;
}

TEST(ParseBrokerConfig, ReadsWhatTheChecksNeed) {
  auto b = parse_broker_config(kGoodConf);
  EXPECT_FALSE(b.allow_anonymous);
  EXPECT_TRUE(b.plugin_loaded);
  ASSERT_EQ(b.listeners.size(), 1u);
  EXPECT_EQ(b.listeners[0].port, "8883");
  EXPECT_TRUE(b.listeners[0].tls);
  EXPECT_EQ(b.listeners[0].tls_version, "tlsv1.2");
  EXPECT_EQ(b.acl_file, "/broker/services.acl");
  EXPECT_EQ(b.state_file, "/var/lib/state.json");
  EXPECT_EQ(b.capath, "/broker/device-cas");
  EXPECT_EQ(b.service_users, std::set<std::string>{"svc-backend"});
  auto acl = parse_acl(kGoodAcl);
  ASSERT_EQ(acl.size(), 3u);
  EXPECT_EQ(acl[0].user, "svc-backend");
  EXPECT_EQ(acl[2].access, "read");
  EXPECT_EQ(acl[2].topic, "$SYS/#");
  EXPECT_EQ(acl[2].line, 5);
}

TEST(PolicyOverlyPermissive, TheShippedConfigIsClean) {
  auto s = with_broker(kGoodConf, kGoodAcl);
  EXPECT_TRUE(run(policy_overly_permissive, s).empty());
  EXPECT_TRUE(run(logging_disabled, s).empty());
  EXPECT_TRUE(run(tls_version, s).empty());
}

TEST(PolicyOverlyPermissive, AnonymousPlainListenerNoPluginAndWildcardGrants) {
  std::string conf = kGoodConf;
  conf.replace(conf.find("allow_anonymous false"), 21, "allow_anonymous true");
  conf.replace(conf.find("plugin /lib"), 6, "#plugin");
  conf += "listener 1883\n";
  std::string acl = std::string("topic read #\n") + kGoodAcl +
                    "user mallory\ntopic readwrite devices/+/x\npattern write %c/#\n";
  auto f = run(policy_overly_permissive, with_broker(conf, acl));
  std::vector<std::string> ids;
  for (const auto& x : f) ids.push_back(x.resource_id);
  EXPECT_EQ(ids, (std::vector<std::string>{
                     "/broker/mosquitto.conf:allow_anonymous", "/broker/mosquitto.conf:plugin",
                     "/broker/mosquitto.conf:listener 1883", "/broker/services.acl:1",
                     "/broker/services.acl:8", "/broker/services.acl:9"}));
  for (const auto& x : f) EXPECT_EQ(x.severity, Severity::kCritical);
}

TEST(LoggingDisabled, BrokerLogOffAndDaemonAboveWarn) {
  std::string conf = kGoodConf;
  conf += "log_dest none\n";
  auto s = with_broker(conf, kGoodAcl);
  s.daemon_log_level = "error";
  auto f = run(logging_disabled, s);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].resource_type, "broker");
  EXPECT_EQ(f[1].resource_type, "daemon");
  EXPECT_EQ(f[1].severity, Severity::kLow);
  s.daemon_log_level = "warn";
  EXPECT_EQ(run(logging_disabled, s).size(), 1u);
}

TEST(TlsVersion, BelowOnePointTwo) {
  std::string conf = kGoodConf;
  conf.replace(conf.find("tlsv1.2"), 7, "tlsv1.1");
  auto f = run(tls_version, with_broker(conf, kGoodAcl));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "TLS_VERSION_CHECK");
  EXPECT_NE(f[0].reason.find("tlsv1.1"), std::string::npos);
}

TEST(WeakKeys, SmallRsaAndUnknownCurves) {
  auto s = base();
  CaCert rsa;
  rsa.id = "RSA1024";
  rsa.name = "old";
  rsa.status = "ACTIVE";
  rsa.key = KeyInfo{"RSA", 1024, ""};
  CaCert p256 = rsa;
  p256.id = "P256";
  p256.key = KeyInfo{"EC", 256, "prime256v1"};
  CaCert k1 = rsa;
  k1.id = "K1";
  k1.key = KeyInfo{"EC", 256, "secp256k1"};
  s.cas = {rsa, p256, k1};
  s.platform_certs = {PlatformCert{"/pki/https.crt", kNowS, false, KeyInfo{"RSA", 2048, ""}}};
  auto f = run(weak_keys, s);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].resource_id, "RSA1024");
  EXPECT_EQ(f[1].resource_id, "K1");
}

TEST(PkiFilePermissions, OthersCriticalGroupHighOwnerOnlyFine) {
  auto s = base();
  s.key_files = {{"/pki/a.key", 0600}, {"/pki/b.key", 0640}, {"/pki/c.key", 0644}};
  auto f = run(pki_file_permissions, s);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].resource_id, "/pki/b.key");
  EXPECT_EQ(f[0].severity, Severity::kHigh);
  EXPECT_EQ(f[1].resource_id, "/pki/c.key");
  EXPECT_EQ(f[1].severity, Severity::kCritical);
  EXPECT_EQ(f[1].details["mode"], "0644");
}

TEST(AdminAccountHygiene, UnverifiedMediumInactiveLowActiveAndNewFine) {
  Snapshot s = base();
  s.admin_inactive_days = 90;
  const std::int64_t day_ms = kDayS * 1000;
  auto admin = [&](std::string id, bool verified, std::int64_t created_days_ago,
                   std::optional<std::int64_t> signed_in_days_ago) {
    AdminAccount a;
    a.id = id;
    a.email = id + "@example.com";
    a.email_verified = verified;
    a.created_at_ms = kNowMs - created_days_ago * day_ms;
    if (signed_in_days_ago) a.last_sign_in_ms = kNowMs - *signed_in_days_ago * day_ms;
    return a;
  };
  s.admins = {admin("active", true, 400, 3),           admin("new", true, 10, std::nullopt),
              admin("unverified", false, 400, 1),      admin("idle", true, 400, 91),
              admin("never", true, 100, std::nullopt), admin("both", false, 400, 200)};
  auto f = run(admin_account_hygiene, s);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].resource_id, "unverified");
  EXPECT_EQ(f[0].severity, Severity::kMedium);
  EXPECT_EQ(f[0].resource_type, "account");
  EXPECT_NE(f[0].reason.find("not verified"), std::string::npos);
  EXPECT_EQ(f[1].resource_id, "idle");
  EXPECT_EQ(f[1].severity, Severity::kLow);
  EXPECT_NE(f[1].reason.find("no sign-in since"), std::string::npos);
  EXPECT_EQ(f[2].resource_id, "never");
  EXPECT_NE(f[2].reason.find("since it was created"), std::string::npos);
  EXPECT_EQ(f[3].resource_id, "both");
  EXPECT_EQ(f[3].severity, Severity::kMedium);
  EXPECT_NE(f[3].reason.find("; no sign-in"), std::string::npos);
  EXPECT_EQ(f[3].details["emailVerified"], false);
}

TEST(AllChecks, NamesAreUniqueAndFindable) {
  std::set<std::string_view> names;
  for (const auto& c : all_checks()) {
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    EXPECT_EQ(find_check(c.name), &c);
  }
  EXPECT_EQ(find_check("NO_SUCH_CHECK"), nullptr);
}

TEST(Schedule, ParsesAndComputesTheNextRun) {
  EXPECT_EQ(*parse_schedule("03:00"), std::optional<int>(180));
  EXPECT_EQ(*parse_schedule("off"), std::optional<int>());
  EXPECT_FALSE(parse_schedule("24:00"));
  EXPECT_FALSE(parse_schedule("3:00"));
  EXPECT_FALSE(parse_schedule("daily"));
  constexpr std::int64_t kDay = 86400000;
  const std::int64_t midnight = 20000 * kDay;
  EXPECT_EQ(next_scheduled_ms(midnight, 180), midnight + 3 * 3600000);
  EXPECT_EQ(next_scheduled_ms(midnight + 3 * 3600000, 180), midnight + kDay + 3 * 3600000);
}

}  // namespace
}  // namespace sp::audit
