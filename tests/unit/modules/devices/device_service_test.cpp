// The devices service over the real SQLite repositories (a fresh database file per test) and the
// real catalog service: registration against the catalog with claim codes and their limiter, the
// ownership rules of every operation (owner, former owner, other user, admin, unknown), delete
// with certificate revocation and the hooks, paging, the JSON shapes and request validation.

#include <gtest/gtest.h>

#include <set>

#include "../../store/main_db.hpp"
#include "../../store/test_util.hpp"
#include "fakes/fixed_clock.hpp"
#include "smartproduct/devices/service.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/repositories/claim_attempts.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::devices {
namespace {

using devices::CertificateStatus;
using devices::RegistrationStatus;
using nlohmann::json;

using test::FixedClock;

const std::string kPepper(32, 'p');
const Caller kAlice{"alice", false};
const Caller kBob{"bob", false};
const Caller kAdmin{"root", true};

std::string fp(char c) { return std::string(64, c); }

class DeviceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = sqlite::test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    catalog_repo_ = sqlite::make_catalog_repository(db_);
    catalog_ = std::make_unique<catalog::CatalogService>(*catalog_repo_, clock_,
                                                         identity::CodeHasher(kPepper));
    repo_ = sqlite::make_device_repository(db_);
    bus_.lane("test")
        .on<DeviceRegistered>([this](const DeviceRegistered& e) { registered_.push_back(e); })
        .on<CertificatesRevoked>(
            [this](const CertificatesRevoked& e) { revoked_.push_back(e.fingerprints); })
        .on<DeviceDeleted>([this](const DeviceDeleted& e) { deleted_.push_back(e.device_id); });
    bus_.start();
    service_ = std::make_unique<DeviceService>(*repo_, *catalog_, clock_, bus_);
    for (int i = 1; i <= 5; ++i) add_entry("SN-" + std::to_string(i));
    add_entry("LOCKED-1", "LOCKED-CODE");
  }
  void TearDown() override {
    service_.reset();
    repo_.reset();
    catalog_.reset();
    catalog_repo_.reset();
    if (db_) db_->close();
  }

  void add_entry(const std::string& id, std::optional<std::string> code = std::nullopt) {
    auto r = catalog_->create(
        catalog::NewEntry{id, "25HNB9", {{"model", "INFINITY 19"}}, code, std::nullopt});
    ASSERT_TRUE(r) << r.error().message;
  }

  static RegistrationRequest request(std::string id, std::string name = "kitchen",
                                     std::optional<std::string> code = std::nullopt) {
    return RegistrationRequest{std::move(id), std::move(name), "25HNB9", std::move(code)};
  }

  devices::Registration registered(const Caller& who, const std::string& id,
                                   const std::string& name = "kitchen") {
    auto r = service_->register_device(who, request(id, name));
    EXPECT_TRUE(r) << r.error().name << ": " << r.error().message;
    return r ? *r : devices::Registration{};
  }

  void add_cert(const std::string& fingerprint, const std::string& device,
                std::optional<std::int64_t> registration_id = std::nullopt) {
    devices::DeviceCertificate c;
    c.fingerprint = fingerprint;
    c.device_id = device;
    c.ca_id = "CA1";
    c.issuer = "CN=Maker";
    c.serial = "0A";
    c.first_seen_at_ms = clock_.now_ms();
    c.last_seen_at_ms = clock_.now_ms();
    c.updated_at_ms = clock_.now_ms();
    ASSERT_TRUE(repo_->save_certificate(c));
    if (registration_id) {
      ASSERT_TRUE(repo_->activate_certificate(fingerprint, *registration_id, clock_.now_ms()));
    }
  }

  template <class T>
  static void expect_error(const Result<T>& r, ErrorKind kind, const std::string& name) {
    ASSERT_FALSE(r) << "expected " << name;
    EXPECT_EQ(r.error().kind, kind) << r.error().name << ": " << r.error().message;
    EXPECT_EQ(r.error().name, name) << r.error().message;
  }

  sqlite::test::TempDir dir_;
  FixedClock clock_;
  std::shared_ptr<sqlite::Database> db_;
  std::unique_ptr<store::CatalogRepository> catalog_repo_;
  std::unique_ptr<catalog::CatalogService> catalog_;
  std::unique_ptr<store::DeviceRepository> repo_;
  std::unique_ptr<DeviceService> service_;
  // What the service published, read after drain() (the bus delivers on its own thread).
  const std::vector<DeviceRegistered>& published_registered() {
    bus_.drain();
    return registered_;
  }
  const std::vector<std::vector<std::string>>& published_revoked() {
    bus_.drain();
    return revoked_;
  }
  const std::vector<std::string>& published_deleted() {
    bus_.drain();
    return deleted_;
  }

 private:
  std::vector<DeviceRegistered> registered_;
  std::vector<std::vector<std::string>> revoked_;
  std::vector<std::string> deleted_;

 protected:
  EventBus bus_;  // after what its handlers write to: stopped (destroyed) before them
};

TEST_F(DeviceServiceTest, RegisterStoresAPendingRegistrationWithCatalogDetails) {
  auto r = service_->register_device(kAlice, request("SN-1", "living-room"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, RegistrationStatus::kPending);
  EXPECT_EQ(r->user_id, "alice");
  EXPECT_EQ(r->details, (json{{"model", "INFINITY 19"}}));
  ASSERT_EQ(published_registered().size(), 1u);
  EXPECT_EQ(published_registered()[0].device_id, r->device_id);
  EXPECT_EQ(published_registered()[0].user_id, "alice");

  const auto j = registration_to_json(*r);
  EXPECT_EQ(j, (json{{"deviceId", "SN-1"},
                     {"deviceName", "living-room"},
                     {"modelNumber", "25HNB9"},
                     {"details", {{"model", "INFINITY 19"}}},
                     {"status", "pending"},
                     {"userId", "alice"},
                     {"createdAt", "2023-11-14T22:13:20.000Z"},
                     {"updatedAt", "2023-11-14T22:13:20.000Z"}}));
}

TEST_F(DeviceServiceTest, UnknownPairIsTheSeedsDeviceNotFoundFailure) {
  auto r = service_->register_device(kAlice, request("SN-404"));
  expect_error(r, ErrorKind::kNotFound, "DeviceNotFoundFailure");
  EXPECT_EQ(r.error().message,
            "Manufacturer info cannot be found for serial number \"SN-404\" and model number "
            "\"25HNB9\". Please add a model number/serial number that is supported by the "
            "manufacturer.");
  auto other_model = service_->register_device(kAlice, {"SN-1", "n", "OTHER", std::nullopt});
  expect_error(other_model, ErrorKind::kNotFound, "DeviceNotFoundFailure");
  EXPECT_TRUE(published_registered().empty());
}

TEST_F(DeviceServiceTest, LiveRegistrationBlocksEveryoneUntilDeleted) {
  registered(kAlice, "SN-1");
  expect_error(service_->register_device(kAlice, request("SN-1")), ErrorKind::kConflict,
               "DeviceRegisteredFailure");
  auto by_bob = service_->register_device(kBob, request("SN-1"));
  expect_error(by_bob, ErrorKind::kConflict, "DeviceRegisteredFailure");
  EXPECT_EQ(by_bob.error().message,
            "Device with serial number \"SN-1\" has been already registered.");

  ASSERT_TRUE(service_->delete_device(kAlice, "SN-1"));
  auto bobs = registered(kBob, "SN-1", "bobs");
  EXPECT_EQ(service_->owner_of("SN-1"), "bob");
  // Bob sees his registration, Alice her deleted one (read-only history).
  EXPECT_EQ(service_->device(kBob, "SN-1")->id, bobs.id);
  auto alices = service_->device(kAlice, "SN-1");
  ASSERT_TRUE(alices);
  EXPECT_EQ(alices->status, RegistrationStatus::kDeleted);
  EXPECT_EQ(alices->user_id, "alice");
  EXPECT_EQ(service_->device(kAdmin, "SN-1")->id, bobs.id);
}

TEST_F(DeviceServiceTest, ClaimCodeRequiredWrongRightAndRateLimited) {
  expect_error(service_->register_device(kAlice, request("LOCKED-1")), ErrorKind::kUnprocessable,
               "ClaimCodeRequired");
  expect_error(service_->register_device(kAlice, request("LOCKED-1", "n", "WRONG")),
               ErrorKind::kForbidden, "InvalidClaimCode");
  EXPECT_EQ(service_->claim_retry_after_s("alice"), 0);
  // A code sent for an entry without one is ignored.
  EXPECT_TRUE(service_->register_device(kAlice, request("SN-2", "n", "WHATEVER")));

  for (int i = 1; i < kMaxClaimFailures; ++i) {
    clock_.advance(std::chrono::milliseconds(1000));
    expect_error(service_->register_device(kAlice, request("LOCKED-1", "n", "WRONG")),
                 ErrorKind::kForbidden, "InvalidClaimCode");
  }
  // Ten failures: even the right code waits now; other users are not affected.
  expect_error(service_->register_device(kAlice, request("LOCKED-1", "n", "LOCKED-CODE")),
               ErrorKind::kRateLimited, "TooManyClaimAttempts");
  const int wait = service_->claim_retry_after_s("alice");
  EXPECT_GE(wait, 1);
  EXPECT_LE(wait, 15 * 60);
  EXPECT_EQ(service_->claim_retry_after_s("bob"), 0);
  // Entries without a claim code are not limited.
  EXPECT_TRUE(service_->register_device(kAlice, request("SN-3")));

  clock_.advance(std::chrono::milliseconds(static_cast<std::int64_t>(wait) * 1000));
  auto ok = service_->register_device(kAlice, request("LOCKED-1", "n", "LOCKED-CODE"));
  ASSERT_TRUE(ok) << ok.error().name;
  EXPECT_EQ(ok->status, RegistrationStatus::kPending);
}

TEST_F(DeviceServiceTest, WrongClaimCodesAreLimitedPerSerialAcrossUsersAndRestarts) {
  auto counter = sqlite::make_claim_attempt_counter(db_);
  const ClaimPolicy policy{false, 3, std::chrono::seconds(3600)};
  service_ =
      std::make_unique<DeviceService>(*repo_, *catalog_, clock_, bus_, policy, counter.get());
  // Three users, one wrong guess each: the serial's allowance (3) is used up for everyone,
  // although no user reached the per-user limit.
  for (const char* user : {"u1", "u2", "u3"}) {
    expect_error(service_->register_device(Caller{user, false}, request("LOCKED-1", "n", "WRONG")),
                 ErrorKind::kForbidden, "InvalidClaimCode");
  }
  // A restart (a new service and counter over the same database) does not reset it.
  service_.reset();
  counter = sqlite::make_claim_attempt_counter(db_);
  service_ =
      std::make_unique<DeviceService>(*repo_, *catalog_, clock_, bus_, policy, counter.get());
  expect_error(service_->register_device(kBob, request("LOCKED-1", "n", "LOCKED-CODE")),
               ErrorKind::kRateLimited, "TooManyClaimAttempts");
  const int wait = service_->claim_retry_after_s("bob", "LOCKED-1");
  EXPECT_GE(wait, 3500);
  EXPECT_LE(wait, 3600);
  EXPECT_EQ(service_->claim_retry_after_s("bob", "SN-1"), 0);
  clock_.advance(std::chrono::seconds(3600));
  ASSERT_TRUE(service_->register_device(kBob, request("LOCKED-1", "n", "LOCKED-CODE")));
  EXPECT_EQ(counter->get("LOCKED-1")->count, 0);  // a right code clears the serial's count
}

TEST_F(DeviceServiceTest, RequireClaimCodeRefusesRowsWithoutOne) {
  service_ = std::make_unique<DeviceService>(*repo_, *catalog_, clock_, bus_,
                                             ClaimPolicy{true, 20, std::chrono::seconds(3600)});
  expect_error(service_->register_device(kAlice, request("SN-1", "n", "ANY-CODE-1")),
               ErrorKind::kUnprocessable, "ClaimCodeRequired");
  EXPECT_TRUE(service_->register_device(kAlice, request("LOCKED-1", "n", "LOCKED-CODE")));
}

TEST_F(DeviceServiceTest, RegistrationsOfTheCallerByNameEveryStatus) {
  registered(kAlice, "SN-3", "c-name");
  registered(kAlice, "SN-1", "a-name");
  registered(kAlice, "SN-2", "b-name");
  registered(kBob, "SN-4", "0-bob");
  ASSERT_TRUE(service_->delete_device(kAlice, "SN-2"));
  auto rows = service_->registrations(kAlice);
  ASSERT_TRUE(rows);
  std::vector<std::string> names;
  for (const auto& r : *rows) names.push_back(r.device_name);
  EXPECT_EQ(names, (std::vector<std::string>{"a-name", "b-name", "c-name"}));
  EXPECT_EQ((*rows)[1].status, RegistrationStatus::kDeleted);
  EXPECT_EQ(service_->registrations(kBob)->size(), 1u);
}

TEST_F(DeviceServiceTest, DeviceReadRules) {
  registered(kAlice, "SN-1");
  EXPECT_EQ(service_->device(kAlice, "SN-1")->user_id, "alice");
  expect_error(service_->device(kBob, "SN-1"), ErrorKind::kForbidden, "DeviceAccessDenied");
  EXPECT_EQ(service_->device(kAdmin, "SN-1")->user_id, "alice");
  auto unknown = service_->device(kAlice, "SN-5");
  expect_error(unknown, ErrorKind::kNotFound, "MissingDevice");
  EXPECT_EQ(unknown.error().message, "The device \"SN-5\" does not exist.");
  expect_error(service_->device(kAdmin, "SN-5"), ErrorKind::kNotFound, "MissingDevice");
  expect_error(service_->device(kAlice, "bad id!"), ErrorKind::kNotFound, "MissingDevice");
}

TEST_F(DeviceServiceTest, DeleteRulesAndCertificateRevocation) {
  auto a = registered(kAlice, "SN-1");
  add_cert(fp('A'), "SN-1", a.id);
  add_cert(fp('B'), "SN-1");
  registered(kBob, "SN-2");

  expect_error(service_->delete_device(kBob, "SN-1"), ErrorKind::kForbidden, "DeviceAccessDenied");
  expect_error(service_->delete_device(kAlice, "SN-5"), ErrorKind::kNotFound, "MissingDevice");
  expect_error(service_->delete_device(kAlice, "no such!"), ErrorKind::kNotFound, "MissingDevice");
  EXPECT_TRUE(published_revoked().empty());
  EXPECT_TRUE(published_deleted().empty());

  ASSERT_TRUE(service_->delete_device(kAlice, "SN-1"));
  EXPECT_EQ(published_deleted(), std::vector<std::string>{"SN-1"});
  ASSERT_EQ(published_revoked().size(), 1u);
  EXPECT_EQ(published_revoked()[0], (std::vector<std::string>{fp('A'), fp('B')}));
  EXPECT_EQ((*repo_->certificate(fp('A')))->status, CertificateStatus::kRevoked);
  EXPECT_FALSE(service_->owner_of("SN-1"));

  expect_error(service_->delete_device(kAlice, "SN-1"), ErrorKind::kConflict,
               "DeviceAlreadyDeleted");
  expect_error(service_->delete_device(kBob, "SN-1"), ErrorKind::kForbidden, "DeviceAccessDenied");
  expect_error(service_->delete_device(kAdmin, "SN-1"), ErrorKind::kConflict,
               "DeviceAlreadyDeleted");
  expect_error(service_->delete_device(kAdmin, "SN-5"), ErrorKind::kNotFound, "MissingDevice");

  // An admin deletes anyone's device; no certificates means no hook call.
  ASSERT_TRUE(service_->delete_device(kAdmin, "SN-2"));
  EXPECT_EQ(published_revoked().size(), 1u);
  EXPECT_EQ(service_->device(kBob, "SN-2")->status, RegistrationStatus::kDeleted);
}

TEST_F(DeviceServiceTest, ListDevicesOwnOrAllAndPagedInternally) {
  for (int i = 0; i < 230; ++i) add_entry("BULK-" + std::to_string(i));
  for (int i = 0; i < 230; ++i) {
    registered(i % 2 ? kAlice : kBob, "BULK-" + std::to_string(i));
  }
  ASSERT_TRUE(service_->delete_device(kAlice, "BULK-1"));

  auto mine = service_->all_devices(kAlice);
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->size(), 114u);
  std::set<std::string> ids;
  for (const auto& d : *mine) {
    EXPECT_EQ(d.registration.user_id, "alice");
    ids.insert(d.registration.device_id);
  }
  EXPECT_EQ(ids.size(), mine->size());
  EXPECT_EQ(ids.count("BULK-1"), 0u);
  auto all = service_->all_devices(kAdmin);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 229u);

  auto page = service_->list_devices(kBob, 100, std::nullopt);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 100u);
  ASSERT_TRUE(page->next_after_id);
  auto rest = service_->list_devices(kBob, 100, page->next_after_id);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->items.size(), 15u);
  EXPECT_FALSE(rest->next_after_id);

  expect_error(service_->list_devices(kAlice, 0, std::nullopt), ErrorKind::kUnprocessable,
               "InvalidLimit");
  expect_error(service_->list_devices(kAlice, 101, std::nullopt), ErrorKind::kUnprocessable,
               "InvalidLimit");

  const auto thing = device_to_json((*mine)[0]);
  EXPECT_EQ(thing["thingName"], (*mine)[0].registration.device_id);
  EXPECT_EQ(thing["thingTypeName"], "SmartProduct");
  EXPECT_EQ(thing["attributes"]["userId"], "alice");
  EXPECT_EQ(thing["attributes"]["deviceName"], "kitchen");
  EXPECT_EQ(thing["attributes"]["modelNumber"], "25HNB9");
  EXPECT_EQ(thing["connectivity"], (json{{"connected", false}, {"timestamp", 0}}));
  EXPECT_EQ(thing["status"], "pending");
}

// GET /api/devices behind a database that fails: a catalogue error (503 StoreUnavailable) with the
// store's cause only in the logged detail, never the store's own name or words.
TEST_F(DeviceServiceTest, StoreFailureBecomesStoreUnavailable) {
  registered(kAlice, "SN-1");
  db_->close();
  for (auto r : {service_->list_devices(kAlice, 10, std::nullopt).map([](auto&&) { return 0; }),
                 service_->all_devices(kAlice).map([](auto&&) { return 0; })}) {
    ASSERT_FALSE(r);
    expect_error(r, ErrorKind::kUnavailable, "StoreUnavailable");
    EXPECT_NE(r.error().detail.find("DatabaseClosed"), std::string::npos) << r.error().detail;
    EXPECT_EQ(r.error().message, "The database is busy or not available; try again.");
  }
  db_.reset();
}

TEST_F(DeviceServiceTest, CertificatesVisibleToOwnerAdminAndFormerOwnerHistoryOnly) {
  auto a = registered(kAlice, "SN-1");
  add_cert(fp('A'), "SN-1", a.id);
  ASSERT_TRUE(service_->delete_device(kAlice, "SN-1"));
  auto b = registered(kBob, "SN-1");
  clock_.advance(std::chrono::milliseconds(1000));
  add_cert(fp('B'), "SN-1", b.id);
  clock_.advance(std::chrono::milliseconds(1000));
  add_cert(fp('C'), "SN-1");  // seen, not activated yet

  const auto fps = [](const std::vector<devices::DeviceCertificate>& certs) {
    std::vector<std::string> out;
    for (const auto& c : certs) out.push_back(c.fingerprint);
    return out;
  };
  EXPECT_EQ(fps(*service_->certificates(kBob, "SN-1")),
            (std::vector<std::string>{fp('A'), fp('B'), fp('C')}));
  EXPECT_EQ(fps(*service_->certificates(kAdmin, "SN-1")),
            (std::vector<std::string>{fp('A'), fp('B'), fp('C')}));
  EXPECT_EQ(fps(*service_->certificates(kAlice, "SN-1")), (std::vector<std::string>{fp('A')}));
  expect_error(service_->certificates(Caller{"carol", false}, "SN-1"), ErrorKind::kForbidden,
               "DeviceAccessDenied");
  expect_error(service_->certificates(kAlice, "SN-5"), ErrorKind::kNotFound, "MissingDevice");
  expect_error(service_->certificates(kAdmin, "SN-5"), ErrorKind::kNotFound, "MissingDevice");
  // Admins see the certificates of a device that connected before anyone registered it.
  add_cert(fp('D'), "SN-4");
  EXPECT_EQ(fps(*service_->certificates(kAdmin, "SN-4")), (std::vector<std::string>{fp('D')}));

  auto stored = repo_->certificate(fp('B'));
  ASSERT_TRUE(stored && *stored);
  const auto j = certificate_to_json(**stored);
  EXPECT_EQ(j["status"], "ACTIVE");
  EXPECT_EQ(j["deviceId"], "SN-1");
  EXPECT_EQ(j["caId"], "CA1");
  EXPECT_EQ(j["statusReason"], "");
  EXPECT_TRUE(j.contains("activatedAt"));
  EXPECT_FALSE(j.contains("revokedAt"));
  EXPECT_FALSE(j.contains("notBefore"));
}

TEST_F(DeviceServiceTest, RevokeCertificateRules) {
  auto a = registered(kAlice, "SN-1");
  add_cert(fp('A'), "SN-1", a.id);
  add_cert(fp('E'), "SN-1");
  registered(kBob, "SN-2");
  add_cert(fp('B'), "SN-2");

  expect_error(service_->revoke_certificate(kBob, "SN-1", fp('A')), ErrorKind::kForbidden,
               "DeviceAccessDenied");
  expect_error(service_->revoke_certificate(kAlice, "SN-1", fp('B')), ErrorKind::kNotFound,
               "CertificateNotFound");
  expect_error(service_->revoke_certificate(kAlice, "SN-1", "nothex"), ErrorKind::kNotFound,
               "CertificateNotFound");
  expect_error(service_->revoke_certificate(kAlice, "SN-5", fp('A')), ErrorKind::kNotFound,
               "MissingDevice");

  // Lower-case hex in the URL names the same certificate.
  auto c = service_->revoke_certificate(kAlice, "SN-1", std::string(64, 'a'));
  ASSERT_TRUE(c) << c.error().name;
  EXPECT_EQ(c->fingerprint, fp('A'));
  EXPECT_EQ(c->status, CertificateStatus::kRevoked);
  EXPECT_EQ(c->status_reason, "revoked_by_owner");
  EXPECT_EQ(c->revoked_at_ms, clock_.now_ms());
  ASSERT_EQ(published_revoked().size(), 1u);
  EXPECT_EQ(published_revoked()[0], (std::vector<std::string>{fp('A')}));
  expect_error(service_->revoke_certificate(kAlice, "SN-1", fp('A')), ErrorKind::kConflict,
               "CertificateAlreadyRevoked");
  EXPECT_EQ(published_revoked().size(), 1u);

  auto by_admin = service_->revoke_certificate(kAdmin, "SN-2", fp('B'));
  ASSERT_TRUE(by_admin);
  EXPECT_EQ(by_admin->status_reason, "revoked_by_admin");

  // A former owner may read the history but not change it.
  ASSERT_TRUE(service_->delete_device(kAlice, "SN-1"));
  expect_error(service_->revoke_certificate(kAlice, "SN-1", fp('E')), ErrorKind::kConflict,
               "DeviceAlreadyDeleted");
}

TEST_F(DeviceServiceTest, SecurityEventsAreForAdmins) {
  devices::SecurityEvent e;
  e.at_ms = clock_.now_ms();
  e.kind = "device_not_in_catalog";
  e.device_id = "SN-X";
  ASSERT_TRUE(repo_->add_security_event(e));
  expect_error(service_->security_events(kAlice, 10, std::nullopt, ""), ErrorKind::kForbidden,
               "Forbidden");
  auto rows = service_->security_events(kAdmin, 10, std::nullopt, "");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  const auto j = security_event_to_json((*rows)[0]);
  EXPECT_EQ(j["kind"], "device_not_in_catalog");
  EXPECT_EQ(j["deviceId"], "SN-X");
  EXPECT_EQ(j["at"], "2023-11-14T22:13:20.000Z");
  expect_error(service_->security_events(kAdmin, 0, std::nullopt, ""), ErrorKind::kUnprocessable,
               "InvalidLimit");
}

TEST(RegistrationFromJson, ValidatesEveryField) {
  auto ok = registration_from_json({{"deviceId", "SN:1_a-b"},
                                    {"deviceName", "a-_.,:/@#Z9"},
                                    {"modelNumber", "25HNB9"},
                                    {"claimCode", nullptr},
                                    {"extra", 1}});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->device_id, "SN:1_a-b");
  EXPECT_FALSE(ok->claim_code);
  auto with_code = registration_from_json(
      {{"deviceId", "SN"}, {"deviceName", "n"}, {"modelNumber", "M"}, {"claimCode", "A B-1"}});
  ASSERT_TRUE(with_code);
  EXPECT_EQ(with_code->claim_code, "A B-1");

  EXPECT_EQ(registration_from_json(json::array()).error().kind, ErrorKind::kBadRequest);
  const json base = {{"deviceId", "SN"}, {"deviceName", "n"}, {"modelNumber", "M"}};
  const std::vector<std::pair<json, std::string>> bad = {
      {{{"deviceName", "n"}, {"modelNumber", "M"}}, "deviceId"},
      {{{"deviceId", "SN"}, {"modelNumber", "M"}}, "deviceName"},
      {{{"deviceId", "SN"}, {"deviceName", "n"}}, "modelNumber"},
      {{{"deviceId", 5}, {"deviceName", "n"}, {"modelNumber", "M"}}, "deviceId"},
      {{{"deviceId", "S N"}, {"deviceName", "n"}, {"modelNumber", "M"}}, "deviceId"},
      {{{"deviceId", std::string(129, 'x')}, {"deviceName", "n"}, {"modelNumber", "M"}},
       "deviceId"},
      {{{"deviceId", "SN"}, {"deviceName", "my device"}, {"modelNumber", "M"}}, "deviceName"},
      {{{"deviceId", "SN"}, {"deviceName", ""}, {"modelNumber", "M"}}, "deviceName"},
      {{{"deviceId", "SN"}, {"deviceName", std::string(129, 'n')}, {"modelNumber", "M"}},
       "deviceName"},
      {{{"deviceId", "SN"}, {"deviceName", "n"}, {"modelNumber", std::string(65, 'm')}},
       "modelNumber"},
      {{{"deviceId", "SN"}, {"deviceName", "n"}, {"modelNumber", "M"}, {"claimCode", 12}},
       "claimCode"},
      {{{"deviceId", "SN"}, {"deviceName", "n"}, {"modelNumber", "M"}, {"claimCode", ""}},
       "claimCode"},
      {{{"deviceId", "SN"}, {"deviceName", "n"}, {"modelNumber", "M"}, {"claimCode", "a\tb"}},
       "claimCode"},
  };
  for (const auto& [body, field] : bad) {
    auto r = registration_from_json(body);
    ASSERT_FALSE(r) << body.dump();
    EXPECT_EQ(r.error().kind, ErrorKind::kUnprocessable) << body.dump();
    EXPECT_EQ(r.error().name, "InvalidRegistration");
    EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(registration_from_json(base));
}

}  // namespace
}  // namespace sp::devices
