#include "smartproduct/store/audit_repository.hpp"

#include <set>

#include "smartproduct/store/failure.hpp"
#include "store/sqlite/repositories/audit_repository.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using store::AuditFinding;
using store::AuditRun;

constexpr const char* kRunColumns =
    "id, trigger, status, started_at, finished_at, checks, notes, error";
constexpr const char* kFindingColumns =
    "id, check_name, severity, resource_type, resource_id, reason, details, status, "
    "suppress_reason, suppressed_until, first_seen, last_seen, resolved_at, first_run, last_run";

nlohmann::json parse_or(const std::string& text, nlohmann::json fallback) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

AuditRun read_run(const Statement& s) {
  AuditRun r;
  r.id = s.column<std::int64_t>(0);
  r.trigger = s.column<std::string>(1);
  r.status = s.column<std::string>(2);
  r.started_at_ms = s.column<std::int64_t>(3);
  r.finished_at_ms = s.column<std::optional<std::int64_t>>(4);
  r.checks = parse_or(s.column<std::string>(5), nlohmann::json::object());
  r.notes = parse_or(s.column<std::string>(6), nlohmann::json::array());
  r.error = s.column<std::string>(7);
  return r;
}

AuditFinding read_finding(const Statement& s) {
  AuditFinding f;
  f.id = s.column<std::int64_t>(0);
  f.check = s.column<std::string>(1);
  f.severity = s.column<std::string>(2);
  f.resource_type = s.column<std::string>(3);
  f.resource_id = s.column<std::string>(4);
  f.reason = s.column<std::string>(5);
  f.details = parse_or(s.column<std::string>(6), nlohmann::json::object());
  f.status = s.column<std::string>(7);
  f.suppress_reason = s.column<std::optional<std::string>>(8);
  f.suppressed_until_ms = s.column<std::optional<std::int64_t>>(9);
  f.first_seen_ms = s.column<std::int64_t>(10);
  f.last_seen_ms = s.column<std::int64_t>(11);
  f.resolved_at_ms = s.column<std::optional<std::int64_t>>(12);
  f.first_run = s.column<std::int64_t>(13);
  f.last_run = s.column<std::int64_t>(14);
  return f;
}

class SqliteAuditRepository final : public store::AuditRepository {
 public:
  explicit SqliteAuditRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::int64_t> begin_run(const std::string& trigger, std::int64_t now_ms) override {
    std::int64_t id = 0;
    auto r = db_->write([&](Connection& conn) -> Result<void> {
      auto e = conn.execute(
          "INSERT INTO audit_runs (trigger, status, started_at) VALUES (?1, 'running', ?2)",
          trigger, now_ms);
      if (e) id = conn.last_insert_rowid();
      return e;
    });
    if (!r) {
      // The partial unique index audit_runs_one_running decides concurrent starts.
      if (store::failure_of(r.error()) == store::Failure::kConflict) {
        return store::fail(store::Failure::kConflict, "an audit run is running", r.error().detail);
      }
      return forward(r);
    }
    return id;
  }

  Result<std::vector<std::int64_t>> finish_run(std::int64_t run_id,
                                               const store::AuditRunResult& result,
                                               std::int64_t now_ms) override {
    std::set<std::string> ran;
    for (const auto& [name, count] : result.checks.items()) ran.insert(name);
    std::vector<std::int64_t> raised;
    auto written = db_->write([&](Connection& conn) -> Result<void> {
      raised.clear();  // the writer may run the job again after a busy database
      // The finding's row before this run, and whether it is live (open, or suppressed and not
      // expired): this run makes it open when it is absent or not live.
      auto before = conn.prepare(
          "SELECT id, status != 'resolved' AND NOT (status = 'suppressed' AND suppressed_until "
          "IS NOT NULL AND suppressed_until <= ?4) FROM audit_findings WHERE check_name = ?1 AND "
          "resource_type = ?2 AND resource_id = ?3");
      if (!before) return forward(before);
      for (const auto& f : result.findings) {
        before->bind(1, f.check).bind(2, f.resource_type).bind(3, f.resource_id).bind(4, now_ms);
        auto row = before->step();
        if (!row) return forward(row);
        const bool exists = *row;
        const std::int64_t existing_id = exists ? before->column_int64(0) : 0;
        const bool was_live = exists && before->column_int64(1) != 0;
        before->reset();  // done reading before the row is written
        // New: open. Firing again: last seen; a resolved one or an expired suppression reopens.
        auto e = conn.execute(
            "INSERT INTO audit_findings (check_name, severity, resource_type, resource_id, reason, "
            "details, status, first_seen, last_seen, first_run, last_run, updated_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?7, ?8, ?8, ?7) "
            "ON CONFLICT (check_name, resource_type, resource_id) DO UPDATE SET "
            "severity = excluded.severity, reason = excluded.reason, details = excluded.details, "
            "last_seen = excluded.last_seen, last_run = excluded.last_run, "
            "updated_at = excluded.updated_at, resolved_at = NULL, "
            "status = CASE WHEN status = 'suppressed' AND (suppressed_until IS NULL OR "
            "suppressed_until > excluded.last_seen) THEN 'suppressed' ELSE 'open' END, "
            "suppress_reason = CASE WHEN status = 'suppressed' AND (suppressed_until IS NULL OR "
            "suppressed_until > excluded.last_seen) THEN suppress_reason ELSE NULL END, "
            "suppressed_until = CASE WHEN status = 'suppressed' AND (suppressed_until IS NULL OR "
            "suppressed_until > excluded.last_seen) THEN suppressed_until ELSE NULL END",
            f.check, std::string(audit::to_string(f.severity)), f.resource_type, f.resource_id,
            f.reason, f.details.dump(), now_ms, run_id);
        if (!e) return e;
        if (!was_live) raised.push_back(exists ? existing_id : conn.last_insert_rowid());
      }
      // What a check that ran did not raise again is resolved (checks that did not run: kept).
      for (const auto& name : ran) {
        auto e = conn.execute(
            "UPDATE audit_findings SET status = 'resolved', resolved_at = ?1, updated_at = ?1, "
            "suppress_reason = NULL, suppressed_until = NULL "
            "WHERE check_name = ?2 AND status != 'resolved' AND last_run != ?3",
            now_ms, name, run_id);
        if (!e) return e;
      }
      return conn.execute(
          "UPDATE audit_runs SET status = 'completed', finished_at = ?1, checks = ?2, notes = ?3 "
          "WHERE id = ?4",
          now_ms, result.checks.dump(), result.notes.dump(), run_id);
    });
    if (!written) return tl::unexpected(written.error());
    return raised;
  }

  Result<void> fail_run(std::int64_t run_id, const std::string& error,
                        std::int64_t now_ms) override {
    return db_->write([&](Connection& conn) {
      return conn.execute(
          "UPDATE audit_runs SET status = 'failed', finished_at = ?1, error = ?2 "
          "WHERE id = ?3 AND status = 'running'",
          now_ms, error, run_id);
    });
  }

  Result<std::int64_t> fail_interrupted_runs(std::int64_t now_ms) override {
    std::int64_t n = 0;
    auto r = db_->write([&](Connection& conn) {
      auto e = conn.execute(
          "UPDATE audit_runs SET status = 'failed', finished_at = ?1, error = 'interrupted' "
          "WHERE status = 'running'",
          now_ms);
      if (e) n = conn.changes();
      return e;
    });
    if (!r) return forward(r);
    return n;
  }

  Result<std::optional<AuditRun>> run(std::int64_t id) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<AuditRun>> {
      auto s =
          conn.prepare(std::string("SELECT ") + kRunColumns + " FROM audit_runs WHERE id = ?1");
      if (!s) return forward(s);
      s->bind_all(id);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<AuditRun>{};
      return std::optional<AuditRun>(read_run(*s));
    });
  }

  Result<std::vector<AuditRun>> runs(int limit, std::optional<std::int64_t> before_id) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<AuditRun>> {
      auto s = conn.prepare(std::string("SELECT ") + kRunColumns +
                            " FROM audit_runs WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC "
                            "LIMIT ?2");
      if (!s) return forward(s);
      s->bind(1, before_id).bind(2, limit);
      std::vector<AuditRun> out;
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        out.push_back(read_run(*s));
      }
      return out;
    });
  }

  Result<std::vector<AuditFinding>> findings(const store::AuditFindingFilter& filter, int limit,
                                             std::optional<std::int64_t> before_id) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<AuditFinding>> {
      auto s = conn.prepare(std::string("SELECT ") + kFindingColumns +
                            " FROM audit_findings WHERE (?1 IS NULL OR id < ?1) "
                            "AND (?2 IS NULL OR check_name = ?2) AND (?3 IS NULL OR severity = ?3) "
                            "AND (?4 IS NULL OR status = ?4) AND (?6 IS NULL OR (resource_type = "
                            "'device' AND resource_id = ?6) OR json_extract(details, '$.deviceId') "
                            "= ?6) ORDER BY id DESC LIMIT ?5");
      if (!s) return forward(s);
      s->bind(1, before_id)
          .bind(2, filter.check)
          .bind(3, filter.severity)
          .bind(4, filter.status)
          .bind(5, limit)
          .bind(6, filter.device_id);
      std::vector<AuditFinding> out;
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        out.push_back(read_finding(*s));
      }
      return out;
    });
  }

  Result<std::optional<AuditFinding>> finding(std::int64_t id) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<AuditFinding>> {
      auto s = conn.prepare(std::string("SELECT ") + kFindingColumns +
                            " FROM audit_findings WHERE id = ?1");
      if (!s) return forward(s);
      s->bind_all(id);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<AuditFinding>{};
      return std::optional<AuditFinding>(read_finding(*s));
    });
  }

  Result<bool> set_finding_status(std::int64_t id, const std::string& status,
                                  const std::optional<std::string>& reason,
                                  std::optional<std::int64_t> until_ms,
                                  std::int64_t now_ms) override {
    bool changed = false;
    auto r = db_->write([&](Connection& conn) {
      auto e = conn.execute(
          "UPDATE audit_findings SET status = ?1, suppress_reason = ?2, suppressed_until = ?3, "
          "updated_at = ?4 WHERE id = ?5",
          status, reason, until_ms, now_ms, id);
      if (e) changed = conn.changes() > 0;
      return e;
    });
    if (!r) return forward(r);
    return changed;
  }

  Result<std::vector<audit::DeviceCert>> device_certificates() override {
    return db_->read([&](Connection& conn) -> Result<std::vector<audit::DeviceCert>> {
      auto s = conn.prepare(
          "SELECT c.fingerprint, c.device_id, c.ca_id, c.status, c.not_after, "
          "coalesce(p.connected = 1 AND p.cert_fingerprint = c.fingerprint, 0) "
          "FROM device_certificates c LEFT JOIN device_presence p ON p.device_id = c.device_id "
          "WHERE c.status IN ('ACTIVE', 'REVOKED')");
      if (!s) return forward(s);
      std::vector<audit::DeviceCert> out;
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        audit::DeviceCert c;
        c.fingerprint = s->column<std::string>(0);
        c.device_id = s->column<std::string>(1);
        c.ca_id = s->column<std::string>(2);
        c.status = s->column<std::string>(3);
        c.not_after_s = s->column<std::optional<std::int64_t>>(4);
        c.connected = s->column<bool>(5);
        out.push_back(std::move(c));
      }
      return out;
    });
  }

  Result<std::vector<audit::CaCert>> certificate_authorities(
      std::vector<std::string>& pem_out) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<audit::CaCert>> {
      auto s = conn.prepare(
          "SELECT a.id, a.name, a.status, a.not_after, a.certificate_pem, "
          "(SELECT count(*) FROM device_presence p JOIN device_certificates c "
          " ON c.fingerprint = p.cert_fingerprint WHERE p.connected = 1 AND c.ca_id = a.id) "
          "FROM certificate_authorities a ORDER BY a.id");
      if (!s) return forward(s);
      std::vector<audit::CaCert> out;
      pem_out.clear();
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        audit::CaCert ca;
        ca.id = s->column<std::string>(0);
        ca.name = s->column<std::string>(1);
        ca.status = s->column<std::string>(2);
        ca.not_after_s = s->column<std::int64_t>(3);
        pem_out.push_back(s->column<std::string>(4));
        ca.connected_devices = s->column<std::int64_t>(5);
        out.push_back(std::move(ca));
      }
      return out;
    });
  }

  Result<std::vector<FindingCount>> finding_counts() override {
    return db_->read([&](Connection& conn) -> Result<std::vector<FindingCount>> {
      // audit_findings_status (status, id) narrows the scan to the live findings.
      auto s = conn.prepare(
          "SELECT status, check_name, severity, count(*) FROM audit_findings "
          "WHERE status IN ('open', 'suppressed') GROUP BY status, check_name, severity");
      if (!s) return forward(s);
      std::vector<FindingCount> out;
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        out.push_back(FindingCount{s->column<std::string>(0), s->column<std::string>(1),
                                   s->column<std::string>(2), s->column<std::int64_t>(3)});
      }
      return out;
    });
  }

  Result<std::vector<audit::AdminAccount>> admin_accounts() override {
    return db_->read([&](Connection& conn) -> Result<std::vector<audit::AdminAccount>> {
      auto s = conn.prepare(
          // The identity tables keep epoch seconds.
          "SELECT u.id, u.email, u.email_verified, u.created_at * 1000, "
          "(SELECT max(a.at) * 1000 FROM audit_log a WHERE a.actor = u.id AND "
          "a.action = 'auth.login') "
          "FROM users u WHERE u.role = 'admin' AND u.enabled = 1 ORDER BY u.id");
      if (!s) return forward(s);
      std::vector<audit::AdminAccount> out;
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        audit::AdminAccount a;
        a.id = s->column<std::string>(0);
        a.email = s->column<std::string>(1);
        a.email_verified = s->column<bool>(2);
        a.created_at_ms = s->column<std::int64_t>(3);
        a.last_sign_in_ms = s->column<std::optional<std::int64_t>>(4);
        out.push_back(std::move(a));
      }
      return out;
    });
  }

  Result<std::vector<audit::Connection>> connections_since(std::int64_t since_ms) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<audit::Connection>> {
      auto s = conn.prepare(
          "SELECT device_id, event, client_id, cert_fingerprint, address, broker_epoch, conn_seq, "
          "at FROM presence_history WHERE at >= ?1 AND event IN ('connected', 'disconnected') "
          "ORDER BY id");
      if (!s) return forward(s);
      s->bind_all(since_ms);
      std::vector<audit::Connection> out;
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        audit::Connection c;
        c.device_id = s->column<std::string>(0);
        c.event = s->column<std::string>(1);
        c.client_id = s->column<std::string>(2);
        c.fingerprint = s->column<std::string>(3);
        c.address = s->column<std::string>(4);
        c.broker_epoch = s->column<std::int64_t>(5);
        c.conn_seq = s->column<std::int64_t>(6);
        c.at_ms = s->column<std::int64_t>(7);
        out.push_back(std::move(c));
      }
      return out;
    });
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::AuditRepository> make_audit_repository(std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteAuditRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
