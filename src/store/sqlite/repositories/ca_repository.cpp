#include "smartproduct/store/ca_repository.hpp"

#include "smartproduct/store/failure.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using pki::CaStatus;
using pki::CertificateAuthority;

constexpr const char* kColumns =
    "id, name, subject, issuer, serial, fingerprint, not_before, not_after, certificate_pem, "
    "status, auto_registration, managed, created_at, updated_at";

Result<CertificateAuthority> read_row(const Statement& s) {
  CertificateAuthority ca;
  ca.id = s.column<std::string>(0);
  ca.name = s.column<std::string>(1);
  ca.subject = s.column<std::string>(2);
  ca.issuer = s.column<std::string>(3);
  ca.serial = s.column<std::string>(4);
  ca.fingerprint = s.column<std::string>(5);
  ca.not_before_s = s.column<std::int64_t>(6);
  ca.not_after_s = s.column<std::int64_t>(7);
  ca.certificate_pem = s.column<std::string>(8);
  // The column is CHECKed, so an unknown value means a corrupted file.
  auto status = pki::ca_status_from(s.column<std::string>(9));
  if (!status) {
    return store::fail(store::Failure::kCorrupt, "a stored CA has an unknown status", ca.id);
  }
  ca.status = *status;
  ca.auto_registration = s.column<bool>(10);
  ca.managed = s.column<bool>(11);
  ca.created_at_ms = s.column<std::int64_t>(12);
  ca.updated_at_ms = s.column<std::int64_t>(13);
  return ca;
}

Result<std::vector<CertificateAuthority>> read_all(Statement& s) {
  std::vector<CertificateAuthority> out;
  while (true) {
    auto row = s.step();
    if (!row) return forward(row);
    if (!*row) break;
    auto ca = read_row(s);
    if (!ca) return forward(ca);
    out.push_back(std::move(*ca));
  }
  return out;
}

Result<std::vector<std::string>> read_strings(Connection& conn, std::string_view sql) {
  auto s = conn.prepare(sql);
  if (!s) return forward(s);
  std::vector<std::string> out;
  while (true) {
    auto row = s->step();
    if (!row) return forward(row);
    if (!*row) break;
    out.push_back(s->column<std::string>(0));
  }
  return out;
}

class SqliteCaRepository final : public store::CaRepository {
 public:
  explicit SqliteCaRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<void> insert(const CertificateAuthority& ca) override {
    return db_->write([&ca](Connection& conn) -> Result<void> {
      // The checks and the insert run in one write job, so two registrations of the same CA
      // cannot both pass the checks.
      auto taken = conn.query_value<std::int64_t>(
          "SELECT count(*) FROM certificate_authorities WHERE (id = ?1 OR fingerprint = ?2) "
          "AND status != 'DEREGISTERED'",
          ca.id, ca.fingerprint);
      if (!taken) return forward(taken);
      if (taken->value_or(0) > 0) {
        return fail(ErrorKind::kConflict, "CaAlreadyRegistered",
                    "This CA certificate (id " + ca.id + ") is already registered.");
      }
      auto name = conn.query_value<std::int64_t>(
          "SELECT count(*) FROM certificate_authorities WHERE name = ?1 "
          "AND status != 'DEREGISTERED'",
          ca.name);
      if (!name) return forward(name);
      if (name->value_or(0) > 0) {
        return fail(ErrorKind::kConflict, "CaNameTaken",
                    "Another registered CA is named \"" + ca.name + "\".");
      }
      // Re-registration: a deregistered row with this id (or this very certificate) is replaced.
      if (auto r = conn.execute(
              "DELETE FROM certificate_authorities WHERE (id = ?1 OR fingerprint = ?2) "
              "AND status = 'DEREGISTERED'",
              ca.id, ca.fingerprint);
          !r) {
        return r;
      }
      return conn.execute(std::string("INSERT INTO certificate_authorities (") + kColumns +
                              ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                              "?14)",
                          ca.id, ca.name, ca.subject, ca.issuer, ca.serial, ca.fingerprint,
                          ca.not_before_s, ca.not_after_s, ca.certificate_pem,
                          pki::to_string(ca.status), ca.auto_registration ? 1 : 0,
                          ca.managed ? 1 : 0, ca.created_at_ms, ca.updated_at_ms);
    });
  }

  Result<std::optional<CertificateAuthority>> find(std::string_view id) override {
    return find_one(" WHERE id = ?1", id);
  }

  Result<std::optional<CertificateAuthority>> find_by_name(std::string_view name) override {
    return find_one(" WHERE name = ?1 AND status != 'DEREGISTERED'", name);
  }

  Result<std::vector<CertificateAuthority>> list(bool include_deregistered) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<CertificateAuthority>> {
      std::string sql = std::string("SELECT ") + kColumns + " FROM certificate_authorities";
      if (!include_deregistered) sql += " WHERE status != 'DEREGISTERED'";
      sql += " ORDER BY name, id";
      auto s = conn.prepare(sql);
      if (!s) return forward(s);
      return read_all(*s);
    });
  }

  Result<bool> update(const CertificateAuthority& ca) override {
    bool updated = false;
    auto r = db_->write([&ca, &updated](Connection& conn) {
      auto e = conn.execute(
          "UPDATE certificate_authorities SET status = ?2, auto_registration = ?3, updated_at = ?4 "
          "WHERE id = ?1",
          ca.id, pki::to_string(ca.status), ca.auto_registration ? 1 : 0, ca.updated_at_ms);
      if (e) updated = conn.changes() > 0;
      return e;
    });
    if (!r) return forward(r);
    return updated;
  }

  Result<std::int64_t> device_count(std::string_view id) override {
    return db_->read([&](Connection& conn) -> Result<std::int64_t> {
      auto v = conn.query_value<std::int64_t>(
          "SELECT count(DISTINCT device_id) FROM device_certificates WHERE ca_id = ?1 "
          "AND status IN ('PENDING_ACTIVATION', 'ACTIVE')",
          id);
      if (!v) return forward(v);
      return v->value_or(0);
    });
  }

  Result<store::BrokerState> broker_state() override {
    return db_->read([](Connection& conn) -> Result<store::BrokerState> {
      // One read transaction: the three sets come from the same snapshot.
      if (auto r = conn.exec("BEGIN"); !r) return forward(r);
      auto state = read_state(conn);
      (void)conn.exec("COMMIT");
      return state;
    });
  }

  Result<std::int64_t> broker_state_revision() override {
    return db_->read([](Connection& conn) -> Result<std::int64_t> {
      auto v =
          conn.query_value<std::int64_t>("SELECT revision FROM broker_state_revision WHERE id = 1");
      if (!v) return forward(v);
      return v->value_or(0);
    });
  }

  Result<void> bump_broker_state_revision() override {
    return db_->write([](Connection& conn) {
      return conn.execute("UPDATE broker_state_revision SET revision = revision + 1 WHERE id = 1");
    });
  }

  Result<std::string> registration_code() override {
    return db_->read([](Connection& conn) -> Result<std::string> {
      auto v = conn.query_value<std::string>("SELECT value FROM instance_meta WHERE key = ?1",
                                             "ca_registration_code");
      if (!v) return forward(v);
      if (!*v || (*v)->empty()) {
        return store::fail(store::Failure::kInternal, "the instance has no CA registration code");
      }
      return std::move(**v);
    });
  }

 private:
  template <class Key>
  Result<std::optional<CertificateAuthority>> find_one(const char* where, const Key& key) {
    return db_->read([&](Connection& conn) -> Result<std::optional<CertificateAuthority>> {
      auto s =
          conn.prepare(std::string("SELECT ") + kColumns + " FROM certificate_authorities" + where);
      if (!s) return forward(s);
      s->bind_all(key);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<CertificateAuthority>{};
      auto ca = read_row(*s);
      if (!ca) return forward(ca);
      return std::optional<CertificateAuthority>(std::move(*ca));
    });
  }

  static Result<store::BrokerState> read_state(Connection& conn) {
    store::BrokerState state;
    auto activated = read_strings(
        conn, "SELECT fingerprint FROM device_certificates WHERE status = 'ACTIVE' ORDER BY 1");
    if (!activated) return forward(activated);
    auto revoked = read_strings(
        conn, "SELECT fingerprint FROM device_certificates WHERE status = 'REVOKED' ORDER BY 1");
    if (!revoked) return forward(revoked);
    auto disabled = read_strings(conn,
                                 // The subject DN too: the plugin matches a device
                                 // certificate without an AKI by its issuer DN.
                                 "SELECT id FROM certificate_authorities "
                                 "WHERE status IN ('INACTIVE', 'DEREGISTERED') UNION "
                                 "SELECT subject FROM certificate_authorities "
                                 "WHERE status IN ('INACTIVE', 'DEREGISTERED') ORDER BY 1");
    if (!disabled) return forward(disabled);
    state.activated_fingerprints = std::move(*activated);
    state.revoked_fingerprints = std::move(*revoked);
    state.disabled_cas = std::move(*disabled);
    // Pre-authorized: registered serials, except those the catalog binds to a CA (the plugin does
    // not know bindings; the daemon checks the issuer before it activates such a certificate).
    auto registered = read_strings(
        conn,
        "SELECT device_id FROM registrations r WHERE status != 'deleted' AND NOT EXISTS "
        "(SELECT 1 FROM catalog c WHERE c.device_id = r.device_id AND c.ca_id IS NOT NULL) "
        "ORDER BY 1");
    if (!registered) return forward(registered);
    auto auto_cas = read_strings(conn,
                                 "SELECT id FROM certificate_authorities "
                                 "WHERE status = 'ACTIVE' AND auto_registration = 1 ORDER BY 1");
    if (!auto_cas) return forward(auto_cas);
    auto quarantined = read_strings(conn, "SELECT device_id FROM device_quarantine ORDER BY 1");
    if (!quarantined) return forward(quarantined);
    state.registered_devices = std::move(*registered);
    state.auto_activate_cas = std::move(*auto_cas);
    state.quarantined_devices = std::move(*quarantined);
    return state;
  }

  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::CaRepository> make_ca_repository(std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteCaRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
