#include "smartproduct/store/device_repository.hpp"

#include "smartproduct/store/failure.hpp"
#include "store/sqlite/repositories/registration_rows.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using devices::CertificateStatus;
using devices::DeviceCertificate;
using devices::DevicePage;
using devices::DeviceSummary;
using devices::Registration;
using devices::RegistrationStatus;
using devices::SecurityEvent;

tl::unexpected<Error> corrupted(std::string what) {
  return store::fail(store::Failure::kCorrupt, "a stored device record is invalid",
                     std::move(what));
}

}  // namespace

Result<devices::Registration> read_registration(const Statement& s) {
  devices::Registration r;
  r.id = s.column<std::int64_t>(0);
  r.device_id = s.column<std::string>(1);
  r.user_id = s.column<std::string>(2);
  r.device_name = s.column<std::string>(3);
  r.model_number = s.column<std::string>(4);
  // The column is CHECKed with json_valid(), so a parse failure means a corrupted file.
  r.details = nlohmann::json::parse(s.column<std::string>(5), nullptr, false);
  if (r.details.is_discarded()) return corrupted("registration details are not JSON");
  auto status = devices::registration_status_from(s.column<std::string>(6));
  if (!status) return corrupted("registration status " + s.column<std::string>(6));
  r.status = *status;
  r.created_at_ms = s.column<std::int64_t>(7);
  r.updated_at_ms = s.column<std::int64_t>(8);
  r.activated_at_ms = s.column<std::optional<std::int64_t>>(9);
  r.deleted_at_ms = s.column<std::optional<std::int64_t>>(10);
  return r;
}

Result<devices::DeviceSummary> read_device_summary(const Statement& s) {
  auto r = read_registration(s);
  if (!r) return forward(r);
  devices::DeviceSummary d;
  d.registration = std::move(*r);
  d.connected = s.column<std::optional<bool>>(kRegistrationColumnCount).value_or(false);
  d.connectivity_since_ms = s.column<std::optional<std::int64_t>>(kRegistrationColumnCount + 1);
  return d;
}

namespace {

constexpr const char* kCertificateColumns =
    "fingerprint, device_id, ca_id, issuer, serial, not_before, not_after, status, status_reason, "
    "registration_id, first_seen_at, last_seen_at, activated_at, revoked_at, updated_at";

constexpr const char* kEventColumns = "id, at, kind, device_id, cert_fingerprint, ca_id, detail";

Result<DeviceCertificate> read_certificate(const Statement& s) {
  DeviceCertificate c;
  c.fingerprint = s.column<std::string>(0);
  c.device_id = s.column<std::string>(1);
  c.ca_id = s.column<std::string>(2);
  c.issuer = s.column<std::string>(3);
  c.serial = s.column<std::string>(4);
  c.not_before_s = s.column<std::optional<std::int64_t>>(5);
  c.not_after_s = s.column<std::optional<std::int64_t>>(6);
  auto status = devices::certificate_status_from(s.column<std::string>(7));
  if (!status) return corrupted("certificate status " + s.column<std::string>(7));
  c.status = *status;
  c.status_reason = s.column<std::string>(8);
  c.registration_id = s.column<std::optional<std::int64_t>>(9);
  c.first_seen_at_ms = s.column<std::int64_t>(10);
  c.last_seen_at_ms = s.column<std::int64_t>(11);
  c.activated_at_ms = s.column<std::optional<std::int64_t>>(12);
  c.revoked_at_ms = s.column<std::optional<std::int64_t>>(13);
  c.updated_at_ms = s.column<std::int64_t>(14);
  return c;
}

SecurityEvent read_event(const Statement& s) {
  SecurityEvent e;
  e.id = s.column<std::int64_t>(0);
  e.at_ms = s.column<std::int64_t>(1);
  e.kind = s.column<std::string>(2);
  e.device_id = s.column<std::string>(3);
  e.cert_fingerprint = s.column<std::string>(4);
  e.ca_id = s.column<std::string>(5);
  e.detail = s.column<std::string>(6);
  return e;
}

// Steps `s` to the end, reading every row with `read`.
template <class T, class Read>
Result<std::vector<T>> collect(Statement& s, Read read) {
  std::vector<T> out;
  while (true) {
    auto row = s.step();
    if (!row) return forward(row);
    if (!*row) return out;
    if constexpr (std::is_same_v<decltype(read(s)), T>) {
      out.push_back(read(s));
    } else {
      auto v = read(s);
      if (!v) return forward(v);
      out.push_back(std::move(*v));
    }
  }
}

Result<std::optional<Registration>> first_registration(Statement& s) {
  auto row = s.step();
  if (!row) return forward(row);
  if (!*row) return std::optional<Registration>{};
  auto r = read_registration(s);
  if (!r) return forward(r);
  return std::optional<Registration>(std::move(*r));
}

constexpr std::string_view kLiveCertificateStatuses = "('PENDING_ACTIVATION', 'ACTIVE')";

class SqliteDeviceRepository final : public store::DeviceRepository {
 public:
  explicit SqliteDeviceRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  // ---- registrations ----

  Result<Registration> create_registration(Registration reg) override {
    std::int64_t id = 0;
    auto r = db_->write([&reg, details = reg.details.dump(), &id](Connection& conn) {
      auto e = conn.execute(
          "INSERT INTO registrations (device_id, user_id, device_name, model_number, details, "
          "status, created_at, updated_at, activated_at, deleted_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
          reg.device_id, reg.user_id, reg.device_name, reg.model_number, details,
          std::string(devices::to_string(reg.status)), reg.created_at_ms, reg.updated_at_ms,
          reg.activated_at_ms, reg.deleted_at_ms);
      if (e) id = conn.last_insert_rowid();
      return e;
    });
    if (!r) {
      // Only the partial unique index registrations_live can make a valid row conflict: the
      // device has a live registration (possibly committed a moment ago by a concurrent request).
      if (is_constraint_violation(r.error()) &&
          r.error().detail.find("UNIQUE") != std::string::npos) {
        return store::fail(store::Failure::kConflict,
                           "device " + reg.device_id + " already has a live registration",
                           r.error().detail);
      }
      return forward(r);
    }
    reg.id = id;
    return reg;
  }

  Result<std::optional<Registration>> live_registration(std::string_view device_id) override {
    return query_one(" WHERE r.device_id = ?1 AND r.status != 'deleted' ORDER BY r.id DESC LIMIT 1",
                     device_id);
  }

  Result<std::optional<Registration>> latest_registration(std::string_view device_id) override {
    return query_one(" WHERE r.device_id = ?1 ORDER BY r.id DESC LIMIT 1", device_id);
  }

  Result<std::optional<Registration>> latest_registration_of_user(
      std::string_view device_id, std::string_view user_id) override {
    return query_one(" WHERE r.device_id = ?1 AND r.user_id = ?2 ORDER BY r.id DESC LIMIT 1",
                     device_id, user_id);
  }

  Result<std::vector<Registration>> registrations_of_user(std::string_view user_id) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<Registration>> {
      auto s = conn.prepare(std::string("SELECT ") + kRegistrationColumns +
                            " FROM registrations r WHERE r.user_id = ?1 "
                            "ORDER BY r.device_name, r.device_id, r.id");
      if (!s) return forward(s);
      s->bind_all(user_id);
      return collect<Registration>(*s, read_registration);
    });
  }

  Result<DevicePage> list_devices(const std::optional<std::string>& user_id, int limit,
                                  std::optional<std::int64_t> after_id) override {
    if (limit < 1) {
      return store::fail(store::Failure::kInvalidArgument, "a page needs at least one row");
    }
    return db_->read([&](Connection& conn) -> Result<DevicePage> {
      std::string sql = std::string(kDeviceSummarySelect) + " WHERE r.status != 'deleted'";
      if (user_id) sql += " AND r.user_id = ?1";
      if (after_id) sql += " AND r.id > ?2";
      sql += " ORDER BY r.id LIMIT ?3";
      auto s = conn.prepare(sql);
      if (!s) return forward(s);
      if (user_id) s->bind(1, *user_id);
      if (after_id) s->bind(2, *after_id);
      s->bind(3, limit + 1);  // one extra row tells whether another page exists
      DevicePage page;
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        if (static_cast<int>(page.items.size()) == limit) {
          page.next_after_id = page.items.back().registration.id;
          break;
        }
        auto d = read_device_summary(*s);
        if (!d) return forward(d);
        page.items.push_back(std::move(*d));
      }
      return page;
    });
  }

  Result<std::vector<std::string>> delete_registration(std::int64_t registration_id,
                                                       std::int64_t now_ms) override {
    std::vector<std::string> revoked;
    auto r = db_->write([&](Connection& conn) -> Result<void> {
      revoked.clear();
      auto device = conn.query_value<std::string>(
          "SELECT device_id FROM registrations WHERE id = ?1 AND status != 'deleted'",
          registration_id);
      if (!device) return forward(device);
      if (!*device) {
        return store::fail(store::Failure::kNotFound,
                           "the registration does not exist or is already deleted");
      }
      if (auto e = conn.execute(
              "UPDATE registrations SET status = 'deleted', updated_at = ?2, deleted_at = ?2 "
              "WHERE id = ?1",
              registration_id, now_ms);
          !e) {
        return e;
      }
      auto s = conn.prepare(std::string("SELECT fingerprint FROM device_certificates "
                                        "WHERE device_id = ?1 AND status IN ") +
                            std::string(kLiveCertificateStatuses) + " ORDER BY first_seen_at");
      if (!s) return forward(s);
      s->bind_all(**device);
      auto fps =
          collect<std::string>(*s, [](const Statement& st) { return st.column<std::string>(0); });
      if (!fps) return forward(fps);
      revoked = std::move(*fps);
      return conn.execute(
          std::string("UPDATE device_certificates SET status = 'REVOKED', status_reason = "
                      "'device_deleted', revoked_at = ?2, updated_at = ?2 "
                      "WHERE device_id = ?1 AND status IN ") +
              std::string(kLiveCertificateStatuses),
          **device, now_ms);
    });
    if (!r) return forward(r);
    return revoked;
  }

  // ---- certificates ----

  Result<std::optional<DeviceCertificate>> certificate(std::string_view fingerprint) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<DeviceCertificate>> {
      auto s = conn.prepare(std::string("SELECT ") + kCertificateColumns +
                            " FROM device_certificates WHERE fingerprint = ?1");
      if (!s) return forward(s);
      s->bind_all(fingerprint);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<DeviceCertificate>{};
      auto c = read_certificate(*s);
      if (!c) return forward(c);
      return std::optional<DeviceCertificate>(std::move(*c));
    });
  }

  Result<std::vector<DeviceCertificate>> certificates_of_device(
      std::string_view device_id) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<DeviceCertificate>> {
      auto s = conn.prepare(std::string("SELECT ") + kCertificateColumns +
                            " FROM device_certificates WHERE device_id = ?1 "
                            "ORDER BY first_seen_at, fingerprint");
      if (!s) return forward(s);
      s->bind_all(device_id);
      return collect<DeviceCertificate>(*s, read_certificate);
    });
  }

  Result<void> save_certificate(const DeviceCertificate& c) override {
    return db_->write([c](Connection& conn) -> Result<void> {
      return conn.execute(
          "INSERT INTO device_certificates (fingerprint, device_id, ca_id, issuer, serial, "
          "not_before, not_after, status, status_reason, registration_id, first_seen_at, "
          "last_seen_at, activated_at, revoked_at, updated_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
          "ON CONFLICT (fingerprint) DO UPDATE SET device_id = excluded.device_id, "
          "ca_id = excluded.ca_id, issuer = excluded.issuer, serial = excluded.serial, "
          "not_before = excluded.not_before, not_after = excluded.not_after, "
          "status = excluded.status, status_reason = excluded.status_reason, "
          "registration_id = excluded.registration_id, last_seen_at = excluded.last_seen_at, "
          "activated_at = excluded.activated_at, revoked_at = excluded.revoked_at, "
          "updated_at = excluded.updated_at",
          c.fingerprint, c.device_id, c.ca_id, c.issuer, c.serial, c.not_before_s, c.not_after_s,
          std::string(devices::to_string(c.status)), c.status_reason, c.registration_id,
          c.first_seen_at_ms, c.last_seen_at_ms, c.activated_at_ms, c.revoked_at_ms,
          c.updated_at_ms);
    });
  }

  Result<void> activate_certificate(std::string_view fingerprint, std::int64_t registration_id,
                                    std::int64_t now_ms) override {
    return db_->write(
        [fp = std::string(fingerprint), registration_id, now_ms](Connection& conn) -> Result<void> {
          // Checked inside the write transaction: a delete committed before this job cannot be
          // overtaken, and one queued after it sees the certificate ACTIVE and revokes it.
          auto status = conn.query_value<std::string>(
              "SELECT status FROM registrations WHERE id = ?1", registration_id);
          if (!status) return forward(status);
          if (!*status || **status == "deleted") {
            return store::fail(store::Failure::kConflict, "the registration was deleted");
          }
          // Re-activating an ACTIVE certificate of the same registration keeps its activated_at
          // (JITR may run twice for one connection, e.g. at start-up reconciliation).
          if (auto e = conn.execute(
                  "UPDATE device_certificates SET "
                  "activated_at = CASE WHEN status = 'ACTIVE' AND registration_id = ?2 "
                  "  THEN activated_at ELSE ?3 END, "
                  "status = 'ACTIVE', status_reason = '', registration_id = ?2, revoked_at = NULL, "
                  "updated_at = ?3 WHERE fingerprint = ?1",
                  fp, registration_id, now_ms);
              !e) {
            return e;
          }
          if (conn.changes() == 0) {
            return store::fail(store::Failure::kNotFound, "the certificate is unknown");
          }
          return conn.execute(
              "UPDATE registrations SET status = 'complete', activated_at = ?2, updated_at = ?2 "
              "WHERE id = ?1 AND status = 'pending'",
              registration_id, now_ms);
        });
  }

  Result<bool> revoke_certificate(std::string_view fingerprint, std::string_view reason,
                                  std::int64_t now_ms) override {
    bool revoked = false;
    auto r = db_->write([fp = std::string(fingerprint), why = std::string(reason), now_ms,
                         &revoked](Connection& conn) -> Result<void> {
      auto e = conn.execute(
          "UPDATE device_certificates SET status = 'REVOKED', status_reason = ?2, "
          "revoked_at = ?3, updated_at = ?3 WHERE fingerprint = ?1 AND status != 'REVOKED'",
          fp, why, now_ms);
      if (e) revoked = conn.changes() > 0;
      return e;
    });
    if (!r) return forward(r);
    return revoked;
  }

  Result<std::vector<DeviceCertificate>> certificates_with_status(
      CertificateStatus status, std::string_view device_id) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<DeviceCertificate>> {
      std::string sql = std::string("SELECT ") + kCertificateColumns +
                        " FROM device_certificates WHERE status = ?1";
      if (!device_id.empty()) sql += " AND device_id = ?2";
      sql += " ORDER BY device_id, first_seen_at, fingerprint";
      auto s = conn.prepare(sql);
      if (!s) return forward(s);
      s->bind(1, std::string(devices::to_string(status)));
      if (!device_id.empty()) s->bind(2, device_id);
      return collect<DeviceCertificate>(*s, read_certificate);
    });
  }

  // ---- security events ----

  Result<void> add_security_event(const SecurityEvent& e) override {
    return db_->write([e](Connection& conn) -> Result<void> {
      return conn.execute(
          "INSERT INTO security_events (at, kind, device_id, cert_fingerprint, ca_id, detail) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
          e.at_ms, e.kind, e.device_id, e.cert_fingerprint, e.ca_id, e.detail);
    });
  }

  Result<std::vector<SecurityEvent>> security_events(int limit,
                                                     std::optional<std::int64_t> before_id,
                                                     std::string_view device_id) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<SecurityEvent>> {
      std::string sql = std::string("SELECT ") + kEventColumns + " FROM security_events WHERE 1";
      if (before_id) sql += " AND id < ?1";
      if (!device_id.empty()) sql += " AND device_id = ?2";
      sql += " ORDER BY id DESC LIMIT ?3";
      auto s = conn.prepare(sql);
      if (!s) return forward(s);
      if (before_id) s->bind(1, *before_id);
      if (!device_id.empty()) s->bind(2, device_id);
      s->bind(3, std::max(limit, 0));
      return collect<SecurityEvent>(*s, read_event);
    });
  }

 private:
  template <class... Args>
  Result<std::optional<Registration>> query_one(const char* where, const Args&... args) {
    return db_->read([&](Connection& conn) -> Result<std::optional<Registration>> {
      auto s = conn.prepare(std::string("SELECT ") + kRegistrationColumns +
                            " FROM registrations r" + where);
      if (!s) return forward(s);
      s->bind_all(args...);
      return first_registration(*s);
    });
  }

  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::DeviceRepository> make_device_repository(std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteDeviceRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
