// JITR decisions over the real SQLite repositories (a fresh database per test) with a publisher
// that records the control commands sent to the broker plugin: every path of the decision
// (registered first, connected first, not in the catalog, unknown / inactive / non-auto-registering
// CA, deleted device, re-registration), idempotence, rate-limited security events, reconcile at
// start and full state syncs.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "../../store/main_db.hpp"
#include "../../store/test_util.hpp"
#include "fakes/fixed_clock.hpp"
#include "fakes/recording_publisher.hpp"
#include "policy.hpp"
#include "smartproduct/broker/state_sync.hpp"
#include "smartproduct/jitr/events.hpp"
#include "smartproduct/jitr/service.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::jitr {
namespace {

using devices::CertificateStatus;
using devices::RegistrationStatus;
using presence::ConnectionEvent;

using test::FixedClock;
using test::RecordingPublisher;

// The control commands sent to the plugin, in order (every publish must go to its control topic).
std::vector<nlohmann::json> commands(const RecordingPublisher& publisher) {
  std::vector<nlohmann::json> out;
  for (const auto& p : publisher.published()) {
    EXPECT_EQ(p.topic, "$CONTROL/smartproduct/v1");
    auto j = nlohmann::json::parse(p.payload);
    for (auto& c : j["commands"]) out.push_back(c);
  }
  return out;
}

// "activate:FP" strings of every command except the state sync, in order.
std::vector<std::string> simple(const RecordingPublisher& publisher) {
  std::vector<std::string> out;
  for (auto& c : commands(publisher)) {
    const std::string name = c["command"];
    if (name == "stateChunk") continue;
    for (const char* field : {"fingerprint", "username", "aki"}) {
      if (c.contains(field)) out.push_back(name + ":" + c[field].get<std::string>());
    }
  }
  return out;
}

// The whole states sent, each reassembled from its generation of stateChunk commands (every key
// present, arrays concatenated in chunk order).
std::vector<nlohmann::json> set_states(const RecordingPublisher& publisher) {
  std::vector<nlohmann::json> out;
  nlohmann::json state;
  for (auto& c : commands(publisher)) {
    if (c["command"] != "stateChunk") continue;
    if (c["index"] == 0) {
      state = nlohmann::json::object();
      for (auto key : broker::kStateKeys) state[std::string(key)] = nlohmann::json::array();
    }
    for (auto& [key, values] : c["state"].items()) {
      for (auto& v : values) state[key].push_back(v);
    }
    if (c["index"].get<std::uint64_t>() + 1 == c["count"].get<std::uint64_t>()) {
      out.push_back(state);
    }
  }
  return out;
}

std::string fingerprint(char c) { return std::string(64, c); }

class JitrServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_.lane("test").on<CertificateActivated>([this](const CertificateActivated& e) {
      activated_.push_back(e.device_id + "/" + e.fingerprint + "/" + e.user_id);
    });
    bus_.start();
    db_ = sqlite::test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    devices_ = sqlite::make_device_repository(db_);
    cas_ = sqlite::make_ca_repository(db_);
    catalog_repo_ = sqlite::make_catalog_repository(db_);
    catalog_ = std::make_unique<catalog::CatalogService>(
        *catalog_repo_, clock_, identity::CodeHasher(std::string(32, 'p')));
    plugin_ = std::make_unique<PluginControl>(publisher_);
    add_ca("CA01", pki::CaStatus::kActive, true);
    for (auto serial : {"SN-1", "SN-2", "SN-3"}) {
      ASSERT_TRUE(catalog_->create(
          {serial, "25HNB9", nlohmann::json::object(), std::nullopt, std::nullopt}));
    }
    start();
  }
  void TearDown() override {
    service_.reset();
    if (db_) db_->close();
  }
  void start(JitrConfig c = {}) {
    service_.reset();
    // The periodic revision poll never fires during a test: tests call check_revision().
    c.revision_poll_interval = std::chrono::hours(1);
    service_ =
        std::make_unique<JitrService>(*devices_, *cas_, *catalog_, *plugin_, clock_, bus_, c);
  }
  void add_ca(std::string id, pki::CaStatus status, bool auto_registration) {
    pki::CertificateAuthority ca;
    ca.id = id;
    ca.name = "ca-" + id;
    ca.subject = "CN=" + id;
    ca.issuer = ca.subject;
    ca.serial = "01";
    ca.fingerprint = std::string(63, '0') + id.back();
    ca.not_before_s = 0;
    ca.not_after_s = 4000000000;
    ca.certificate_pem = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
    ca.status = status;
    ca.auto_registration = auto_registration;
    ca.created_at_ms = ca.updated_at_ms = clock_.now_ms();
    ASSERT_TRUE(cas_->insert(ca));
  }
  devices::Registration registration(const std::string& serial, const std::string& user) {
    devices::Registration r;
    r.device_id = serial;
    r.user_id = user;
    r.device_name = "name-" + serial;
    r.model_number = "25HNB9";
    r.created_at_ms = r.updated_at_ms = clock_.now_ms();
    auto created = devices_->create_registration(r);
    EXPECT_TRUE(created) << created.error().message;
    return *created;
  }
  // `ca_id`: the CA the plugin verified by signature; defaults to the one the AKI names.
  void connect(const std::string& serial, char fp, std::string aki = "CA01",
               std::optional<std::string> ca_id = std::nullopt) {
    ConnectionEvent e;
    e.kind = ConnectionEvent::Kind::kConnected;
    e.device_id = serial;
    e.client_id = serial;
    e.cert_fingerprint = fingerprint(fp);
    e.issuer = "CN=" + aki;
    e.serial = "ABCD";
    e.aki = aki;
    e.ca_id = ca_id.value_or(aki);
    e.not_before_s = 1700000000;
    e.not_after_s = 1900000000;
    service_->on_presence(e);
    service_->drain();
  }
  std::optional<devices::DeviceCertificate> cert(char fp) {
    auto c = devices_->certificate(fingerprint(fp));
    EXPECT_TRUE(c);
    return *c;
  }
  std::vector<devices::SecurityEvent> security_events() {
    auto e = devices_->security_events(100, std::nullopt, "");
    EXPECT_TRUE(e);
    return *e;
  }

  sqlite::test::TempDir dir_;
  FixedClock clock_{1800000000000};
  RecordingPublisher publisher_;
  std::shared_ptr<sqlite::Database> db_;
  std::unique_ptr<store::DeviceRepository> devices_;
  std::unique_ptr<store::CaRepository> cas_;
  std::unique_ptr<store::CatalogRepository> catalog_repo_;
  std::unique_ptr<catalog::CatalogService> catalog_;
  std::unique_ptr<PluginControl> plugin_;
  // What JITR published on the bus (delivered on the lane's thread: drain first).
  std::vector<std::string> published_activations() {
    bus_.drain();
    return activated_;
  }
  std::vector<std::string> activated_;
  EventBus bus_;  // after what its handler writes to, before the service that publishes on it
  std::unique_ptr<JitrService> service_;
};

TEST_F(JitrServiceTest, RegisteredDeviceIsActivatedAtItsFirstConnection) {
  auto reg = registration("SN-1", "user-a");
  clock_.advance(std::chrono::milliseconds(5000));
  connect("SN-1", 'A');
  auto c = cert('A');
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, CertificateStatus::kActive);
  EXPECT_EQ(c->registration_id, reg.id);
  EXPECT_EQ(c->ca_id, "CA01");
  EXPECT_EQ(c->not_after_s, 1900000000);
  auto live = devices_->live_registration("SN-1");
  ASSERT_TRUE(live && *live);
  EXPECT_EQ((*live)->status, RegistrationStatus::kComplete);
  EXPECT_EQ((*live)->activated_at_ms, clock_.now_ms());
  EXPECT_EQ(simple(publisher_), std::vector<std::string>{"activate:" + fingerprint('A')});
  EXPECT_EQ(service_->counters().activated, 1u);
  EXPECT_EQ(published_activations(),
            std::vector<std::string>{"SN-1/" + fingerprint('A') + "/user-a"});

  // The same connection reported again (redelivery, resync) changes nothing.
  connect("SN-1", 'A');
  EXPECT_EQ(simple(publisher_).size(), 1u);
  EXPECT_EQ(published_activations().size(), 1u);
  EXPECT_TRUE(security_events().empty());
}

TEST_F(JitrServiceTest, DeviceConnectingBeforeRegistrationWaitsAndIsActivatedByIt) {
  connect("SN-2", 'B');
  ASSERT_TRUE(cert('B'));
  EXPECT_EQ(cert('B')->status, CertificateStatus::kPendingActivation);
  EXPECT_TRUE(simple(publisher_).empty());  // stays connected, without rights

  auto reg = registration("SN-2", "user-b");
  service_->on_registered("SN-2");
  service_->drain();
  EXPECT_EQ(cert('B')->status, CertificateStatus::kActive);
  EXPECT_EQ((*devices_->live_registration("SN-2"))->status, RegistrationStatus::kComplete);
  // The serial is pre-authorized at the broker (for its next certificates) and this one activated.
  EXPECT_EQ(simple(publisher_),
            (std::vector<std::string>{"registerDevice:SN-2", "activate:" + fingerprint('B')}));
}

TEST_F(JitrServiceTest, SerialOutsideTheCatalogIsRefusedWithOneSecurityEvent) {
  connect("NOPE-1", 'C');
  EXPECT_EQ(cert('C')->status, CertificateStatus::kRefused);
  EXPECT_EQ(cert('C')->status_reason, reason::kNotInCatalog);
  EXPECT_EQ(simple(publisher_), std::vector<std::string>{"deactivate:" + fingerprint('C')});
  // The device retries: kicked again, but the event is recorded once per interval.
  connect("NOPE-1", 'C');
  EXPECT_EQ(simple(publisher_).size(), 2u);
  auto events = security_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, reason::kNotInCatalog);
  EXPECT_EQ(events[0].device_id, "NOPE-1");
  EXPECT_EQ(events[0].cert_fingerprint, fingerprint('C'));
  clock_.advance(std::chrono::milliseconds(601 * 1000));
  connect("NOPE-1", 'C');
  EXPECT_EQ(security_events().size(), 2u);

  // Once the manufacturer adds the serial, the next attempt is accepted (pending its owner).
  ASSERT_TRUE(
      catalog_->create({"NOPE-1", "25HNB9", nlohmann::json::object(), std::nullopt, std::nullopt}));
  connect("NOPE-1", 'C');
  EXPECT_EQ(cert('C')->status, CertificateStatus::kPendingActivation);
}

// Issue 10 finding 1: a catalog entry bound to a CA is activated only with that CA's certificates,
// and is not pre-authorized at the broker (the plugin does not know bindings).
TEST_F(JitrServiceTest, SerialBoundToACaIsActivatedOnlyByThatCa) {
  add_ca("CA02", pki::CaStatus::kActive, true);
  auto bound =
      catalog_->create({"SN-B", "25HNB9", nlohmann::json::object(), std::nullopt, "ca:02"});
  ASSERT_TRUE(bound) << bound.error().message;
  EXPECT_EQ(bound->ca_id, "CA02");
  EXPECT_EQ(catalog_->create({"SN-X", "25HNB9", nlohmann::json::object(), std::nullopt, "FFFF"})
                .error()
                .name,
            "InvalidCatalogEntry");
  registration("SN-B", "user-a");
  registration("SN-1", "user-a");
  service_->on_registered("SN-B");
  service_->on_registered("SN-1");
  service_->drain();
  auto state = cas_->broker_state();
  ASSERT_TRUE(state);
  EXPECT_EQ(state->registered_devices, std::vector<std::string>{"SN-1"});

  connect("SN-B", 'E', "CA01");
  EXPECT_EQ(cert('E')->status, CertificateStatus::kRefused);
  EXPECT_EQ(cert('E')->status_reason, reason::kCaNotBound);
  auto events = security_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, reason::kCaNotBound);
  EXPECT_EQ(events[0].ca_id, "CA01");
  connect("SN-B", 'F', "CA02");
  EXPECT_EQ(cert('F')->status, CertificateStatus::kActive);
  const auto sent = simple(publisher_);
  EXPECT_EQ(std::count(sent.begin(), sent.end(), "registerDevice:SN-B"), 0);
  EXPECT_EQ(std::count(sent.begin(), sent.end(), "registerDevice:SN-1"), 1);

  // A certificate pending its owner when the entry gets bound to another CA is refused at
  // registration, not activated.
  connect("SN-3", 'G', "CA01");
  ASSERT_EQ(cert('G')->status, CertificateStatus::kPendingActivation);
  const auto revision = cas_->broker_state_revision();
  ASSERT_TRUE(revision);
  ASSERT_TRUE(catalog_->import({{"SN-3", "25HNB9", nlohmann::json::object(), std::nullopt, "CA02"}},
                               store::ExistingEntries::kReplace));
  // The binding reaches the plugin by a full resend: the write bumped the state revision.
  EXPECT_EQ(*cas_->broker_state_revision(), *revision + 1);
  registration("SN-3", "user-b");
  service_->on_registered("SN-3");
  service_->drain();
  EXPECT_EQ(cert('G')->status, CertificateStatus::kRefused);
  EXPECT_EQ(cert('G')->status_reason, reason::kCaNotBound);
}

TEST_F(JitrServiceTest, UnknownInactiveAndNonAutoRegisteringCasAreRefused) {
  registration("SN-1", "user-a");
  connect("SN-1", 'D', "FFFF");
  EXPECT_EQ(cert('D')->status_reason, reason::kCaNotRegistered);

  add_ca("CA02", pki::CaStatus::kInactive, true);
  connect("SN-1", 'E', "CA02");
  EXPECT_EQ(cert('E')->status_reason, reason::kCaInactive);

  add_ca("CA03", pki::CaStatus::kActive, false);
  connect("SN-1", 'F', "CA03");
  EXPECT_EQ(cert('F')->status_reason, reason::kAutoRegistrationDisabled);
  EXPECT_EQ(security_events().size(), 3u);
  for (char fp : {'D', 'E', 'F'}) EXPECT_EQ(cert(fp)->status, CertificateStatus::kRefused);
  EXPECT_EQ((*devices_->live_registration("SN-1"))->status, RegistrationStatus::kPending);

  // Auto-registration switched on: the refused certificate is accepted at its next attempt.
  auto ca = *cas_->find("CA03");
  ca->auto_registration = true;
  ASSERT_TRUE(cas_->update(*ca));
  connect("SN-1", 'F', "CA03");
  EXPECT_EQ(cert('F')->status, CertificateStatus::kActive);
}

TEST_F(JitrServiceTest, TheCaIsTheOneThePluginVerifiedNeverTheAki) {
  registration("SN-1", "user-a");
  // The leaf names CA01 (registered, active, auto-registering) in its AKI, but no registered CA's
  // key verified its signature: it belongs to no CA.
  connect("SN-1", 'K', "CA01", "");
  EXPECT_EQ(cert('K')->status, CertificateStatus::kRefused);
  EXPECT_EQ(cert('K')->status_reason, reason::kCaNotRegistered);
  EXPECT_EQ(cert('K')->ca_id, "");
  // Verified as CA03's (inactive) although its AKI claims CA01: CA03's rules apply.
  add_ca("CA03", pki::CaStatus::kInactive, true);
  connect("SN-1", 'L', "CA01", "CA03");
  EXPECT_EQ(cert('L')->status_reason, reason::kCaInactive);
  EXPECT_EQ(cert('L')->ca_id, "CA03");
}

TEST_F(JitrServiceTest, DeletedDeviceIsRefusedUntilRegisteredAgain) {
  auto first = registration("SN-3", "user-a");
  connect("SN-3", 'G');
  ASSERT_EQ(cert('G')->status, CertificateStatus::kActive);
  auto revoked = devices_->delete_registration(first.id, clock_.now_ms());
  ASSERT_TRUE(revoked);
  EXPECT_EQ(*revoked, std::vector<std::string>{fingerprint('G')});
  service_->on_certificates_revoked(*revoked);
  service_->drain();
  EXPECT_EQ(simple(publisher_).back(), "revoke:" + fingerprint('G'));
  service_->on_deleted("SN-3");
  service_->drain();
  EXPECT_EQ(simple(publisher_).back(), "unregisterDevice:SN-3");

  // A new certificate for the deleted serial is refused ...
  connect("SN-3", 'H');
  EXPECT_EQ(cert('H')->status_reason, reason::kDeviceDeleted);
  // ... until someone registers it again; then the device's next attempt activates it for them.
  auto second = registration("SN-3", "user-b");
  service_->on_registered("SN-3");
  service_->drain();
  EXPECT_EQ(cert('H')->status, CertificateStatus::kRefused);  // waits for the reconnect
  connect("SN-3", 'H');
  EXPECT_EQ(cert('H')->status, CertificateStatus::kActive);
  EXPECT_EQ(cert('H')->registration_id, second.id);
  // The revoked certificate stays revoked even if the broker reports it again.
  connect("SN-3", 'G');
  EXPECT_EQ(cert('G')->status, CertificateStatus::kRevoked);
  EXPECT_EQ(simple(publisher_).back(), "revoke:" + fingerprint('G'));
}

TEST_F(JitrServiceTest, BrokerRejectionsBecomeSecurityEvents) {
  ConnectionEvent e;
  e.kind = ConnectionEvent::Kind::kRejected;
  e.device_id = "SN-1";
  e.client_id = "SN-1";
  e.cert_fingerprint = fingerprint('I');
  e.aki = "CA01";
  e.reason = "revoked";
  service_->on_presence(e);
  service_->drain();
  auto events = security_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "revoked");
  EXPECT_FALSE(cert('I'));  // a rejection does not create a certificate
}

TEST_F(JitrServiceTest, ReconcileActivatesCertificatesRegisteredWhileTheDaemonWasDown) {
  connect("SN-2", 'J');
  ASSERT_EQ(cert('J')->status, CertificateStatus::kPendingActivation);
  registration("SN-2", "user-b");  // committed, but the hook never ran (crash)
  start();
  service_->reconcile();
  service_->drain();
  EXPECT_EQ(cert('J')->status, CertificateStatus::kActive);
}

TEST_F(JitrServiceTest, BrokerConnectAndOutsideChangesSendTheWholeState) {
  registration("SN-1", "user-a");
  connect("SN-1", 'K');
  add_ca("CA02", pki::CaStatus::kInactive, true);
  start();
  service_->on_broker_connected();
  service_->drain();
  auto states = set_states(publisher_);
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0]["activatedFingerprints"], nlohmann::json::array({fingerprint('K')}));
  // The id and the subject DN (for device certificates without an AKI).
  EXPECT_EQ(states[0]["disabledCas"], nlohmann::json::array({"CA02", "CN=CA02"}));
  EXPECT_EQ(states[0]["revokedFingerprints"], nlohmann::json::array());
  EXPECT_EQ(states[0]["registeredUsernames"], nlohmann::json::array({"SN-1"}));
  EXPECT_EQ(states[0]["autoActivateCas"], nlohmann::json::array({"CA01"}));

  // Nothing changed: a revision check sends nothing.
  service_->check_revision();
  service_->drain();
  EXPECT_EQ(set_states(publisher_).size(), 1u);

  // smartproductctl changed something: the daemon notices the revision and resends.
  ASSERT_TRUE(cas_->bump_broker_state_revision());
  service_->check_revision();
  service_->drain();
  EXPECT_EQ(set_states(publisher_).size(), 2u);
}

// The last stateChunk sent: its generation.
std::uint64_t last_generation(const RecordingPublisher& publisher) {
  std::uint64_t g = 0;
  for (auto& c : commands(publisher)) {
    if (c["command"] == "stateChunk") g = c["generation"].get<std::uint64_t>();
  }
  return g;
}

std::string sync_answer(std::uint64_t generation, bool applied) {
  nlohmann::json r = {{"command", "stateChunk"},
                      {"id", "jitr-sync-" + std::to_string(generation) + "-0"},
                      {"generation", generation}};
  if (applied) {
    r["applied"] = true;
  } else {
    r["error"] = "checksum mismatch";
  }
  return nlohmann::json{{"responses", nlohmann::json::array({r})}}.dump();
}

TEST_F(JitrServiceTest, AFailedSyncIsReportedRetriedWithBackOffAndClearedWhenApplied) {
  JitrConfig c;
  c.revision_poll_interval = std::chrono::hours(1);
  c.sync_retry_initial = std::chrono::milliseconds(1000);
  c.sync_retry_max = std::chrono::milliseconds(1500);
  start(c);
  service_->on_broker_connected();
  service_->drain();
  EXPECT_TRUE(service_->readiness().empty());  // in flight, not failed
  const auto g1 = last_generation(publisher_);
  ASSERT_NE(g1, 0u);

  plugin_->on_control_response(sync_answer(g1, false));
  service_->drain();
  auto reasons = service_->readiness();
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_NE(reasons[0].find("broker plugin state not synced"), std::string::npos) << reasons[0];
  EXPECT_NE(reasons[0].find("retry in 1000 ms"), std::string::npos) << reasons[0];
  EXPECT_EQ(service_->counters().sync_failures, 1u);
  EXPECT_TRUE(service_->sync_status().failing);
  // The retry waits for its back-off.
  service_->check_sync();
  service_->drain();
  EXPECT_EQ(last_generation(publisher_), g1);

  // A reconnect syncs at once; its failure doubles the back-off (capped at the maximum).
  service_->on_broker_connected();
  service_->drain();
  const auto g2 = last_generation(publisher_);
  ASSERT_GT(g2, g1);
  plugin_->on_control_response(sync_answer(g1, true));  // a stale answer changes nothing
  plugin_->on_control_response(sync_answer(g2, false));
  service_->drain();
  reasons = service_->readiness();
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_NE(reasons[0].find("failed 2 time(s), retry in 1500 ms"), std::string::npos) << reasons[0];

  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  service_->check_sync();
  service_->drain();
  const auto g3 = last_generation(publisher_);
  ASSERT_GT(g3, g2);  // retried
  plugin_->on_control_response(sync_answer(g3, true));
  service_->drain();
  EXPECT_TRUE(service_->readiness().empty());
  EXPECT_EQ(service_->sync_status().generation, g3);
  EXPECT_FALSE(service_->sync_status().failing);
  EXPECT_EQ(service_->counters().syncs_applied, 1u);
}

TEST_F(JitrServiceTest, AnUnansweredSyncTimesOut) {
  JitrConfig c;
  c.revision_poll_interval = std::chrono::hours(1);
  c.sync_timeout = std::chrono::milliseconds(0);
  c.sync_timeout_per_chunk = std::chrono::milliseconds(0);
  c.sync_retry_initial = std::chrono::hours(1);
  start(c);
  service_->on_broker_connected();
  service_->drain();
  service_->check_sync();
  service_->drain();
  auto reasons = service_->readiness();
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_NE(reasons[0].find("no answer to generation"), std::string::npos) << reasons[0];
  // A late answer to the timed-out generation does not pretend it worked.
  plugin_->on_control_response(sync_answer(last_generation(publisher_), true));
  service_->drain();
  EXPECT_EQ(service_->readiness().size(), 1u);
}

// The daemon's chunks, fed to the real plugin core: every message fits the broker's packet limit,
// and the plugin ends with exactly the store's state, applied once, at the last chunk.
TEST(PluginControl, ALargeStateGoesInChunksThePluginSwapsInAtTheEnd) {
  RecordingPublisher publisher;
  PluginControl control(publisher);
  std::vector<std::pair<std::uint64_t, bool>> verdicts;
  control.set_sync_listener([&](std::uint64_t g, bool applied, const std::string&) {
    verdicts.emplace_back(g, applied);
  });
  auto hex = [](std::size_t i, char tag) {
    auto s = fmt::format("{:064X}", i);
    s[0] = tag;
    return s;
  };
  store::BrokerState state;
  for (std::size_t i = 0; i < 30000; ++i) state.activated_fingerprints.push_back(hex(i, 'A'));
  for (std::size_t i = 0; i < 5000; ++i) state.revoked_fingerprints.push_back(hex(i, 'B'));
  for (std::size_t i = 0; i < 20000; ++i) {
    state.registered_devices.push_back(fmt::format("SN-\"{}\"-\u00e9", i));  // escapes, UTF-8
  }
  state.disabled_cas = {"CA02", "CN=CA02"};
  state.auto_activate_cas = {"CA01"};
  const auto sent = control.sync_state(state);
  EXPECT_EQ(sent.entries, 55003u);
  const auto published = publisher.published();
  ASSERT_EQ(published.size(), sent.chunks);
  EXPECT_GT(sent.chunks, 10u);

  broker_plugin::Options options;
  options.state_file = "/nonexistent/state.json";
  broker_plugin::Policy policy(options, {}, 1);
  for (std::size_t i = 0; i < published.size(); ++i) {
    EXPECT_LE(published[i].payload.size(), PluginControl::kMaxChunkBytes);
    auto out = policy.handle_control("svc-backend", published[i].payload);
    const auto r = nlohmann::json::parse(out.response)["responses"][0];
    EXPECT_FALSE(r.contains("error")) << r.dump();
    const bool last = i + 1 == published.size();
    EXPECT_EQ(out.state_changed, last);  // the live state changes only at the end
    EXPECT_EQ(policy.state().activated_fingerprints.size(), last ? 30000u : 0u);
    control.on_control_response(out.response);
  }
  EXPECT_EQ(policy.state().revoked_fingerprints.size(), 5000u);
  EXPECT_EQ(policy.state().registered_usernames.size(), 20000u);
  EXPECT_EQ(policy.state().registered_usernames.count("SN-\"7\"-\u00e9"), 1u);
  EXPECT_EQ(policy.state().disabled_cas.size(), 2u);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0], std::make_pair(sent.generation, true));

  // Losing any one chunk means the plugin never applies that generation.
  const auto again = control.sync_state(state);
  const auto all = publisher.published();
  broker_plugin::Policy fresh(options, {}, 1);
  for (std::size_t i = published.size(); i < all.size(); ++i) {
    if (i == published.size() + 3) continue;
    fresh.handle_control("svc-backend", all[i].payload);
  }
  EXPECT_TRUE(fresh.state().activated_fingerprints.empty());
  EXPECT_FALSE(fresh.staged_generation());
  EXPECT_NE(again.generation, sent.generation);
}

TEST(PluginControl, AnswersWithErrorsAreCountedAndOthersIgnored) {
  RecordingPublisher publisher;
  PluginControl control(publisher);
  control.on_control_response(
      R"({"responses":[{"command":"activate","id":"jitr-1","error":"bad fingerprint"},)"
      R"({"command":"listConnected","id":"resync-1","error":"x"},)"
      R"({"command":"revoke","id":"jitr-2","kicked":2}]})");
  control.on_control_response("not json");
  EXPECT_EQ(control.counters().errors, 1u);
  EXPECT_EQ(control.counters().kicked, 2u);
}

}  // namespace
}  // namespace sp::jitr
