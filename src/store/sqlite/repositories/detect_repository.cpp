// Detection: security profiles, violations, quarantined devices and baselines in smartproduct.db.

#include "store/sqlite/repositories/detect_repository.hpp"

#include <span>

#include "smartproduct/store/failure.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using store::Quarantine;
using store::Violation;

constexpr const char* kViolationColumns =
    "id, device_id, profile, rule, metric, value, threshold, statistic, action, status, "
    "started_at, last_violation_at, cleared_at";
constexpr const char* kQuarantineColumns =
    "device_id, reason, source, violation_id, created_at, created_by";

Violation read_violation(const Statement& s) {
  Violation v;
  v.id = s.column<std::int64_t>(0);
  v.device_id = s.column<std::string>(1);
  v.profile = s.column<std::string>(2);
  v.rule = s.column<std::string>(3);
  v.metric = s.column<std::string>(4);
  v.value = s.column<double>(5);
  v.threshold = s.column<double>(6);
  v.statistic = s.column<std::optional<std::string>>(7);
  v.action = s.column<std::string>(8);
  v.status = s.column<std::string>(9);
  v.started_at_ms = s.column<std::int64_t>(10);
  v.last_violation_at_ms = s.column<std::int64_t>(11);
  v.cleared_at_ms = s.column<std::optional<std::int64_t>>(12);
  return v;
}

Quarantine read_quarantine(const Statement& s) {
  Quarantine q;
  q.device_id = s.column<std::string>(0);
  q.reason = s.column<std::string>(1);
  q.source = s.column<std::string>(2);
  q.violation_id = s.column<std::optional<std::int64_t>>(3);
  q.created_at_ms = s.column<std::int64_t>(4);
  q.created_by = s.column<std::string>(5);
  return q;
}

template <class Row, class Read>
Result<std::vector<Row>> collect(Statement& s, Read read) {
  std::vector<Row> out;
  for (;;) {
    auto row = s.step();
    if (!row) return forward(row);
    if (!*row) break;
    out.push_back(read(s));
  }
  return out;
}

class SqliteDetectRepository final : public store::DetectRepository {
 public:
  explicit SqliteDetectRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::vector<store::StoredProfile>> profiles() override {
    return db_->read([](Connection& c) -> Result<std::vector<store::StoredProfile>> {
      auto s = c.prepare("SELECT name, model, rules FROM security_profiles ORDER BY position");
      if (!s) return forward(s);
      return collect<store::StoredProfile>(*s, [](const Statement& st) {
        return store::StoredProfile{st.column<std::string>(0),
                                    st.column<std::optional<std::string>>(1),
                                    st.column<std::string>(2)};
      });
    });
  }

  Result<void> replace_profiles(const std::vector<store::StoredProfile>& profiles,
                                std::int64_t now_ms) override {
    return db_->write([&](Connection& c) -> Result<void> {
      if (auto e = c.execute("DELETE FROM security_profiles"); !e) return e;
      for (std::size_t i = 0; i < profiles.size(); ++i) {
        const auto& p = profiles[i];
        auto e = c.execute(
            "INSERT INTO security_profiles (name, model, rules, position, updated_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5)",
            p.name, p.model, p.rules, static_cast<std::int64_t>(i), now_ms);
        if (!e) return e;
      }
      return {};
    });
  }

  Result<store::OpenedViolation> open_violation(const Violation& v) override {
    store::OpenedViolation out{v, true};
    auto r = db_->write([&](Connection& c) -> Result<void> {
      auto e = c.execute(
          "INSERT INTO security_violations (device_id, profile, rule, metric, value, threshold, "
          "statistic, action, status, started_at, last_violation_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'active', ?9, ?9) "
          "ON CONFLICT (device_id, profile, rule) WHERE status = 'active' DO NOTHING",
          v.device_id, v.profile, v.rule, v.metric, v.value, v.threshold, v.statistic, v.action,
          v.started_at_ms);
      if (!e) return e;
      if (c.changes() > 0) {
        out.violation.id = c.last_insert_rowid();
        out.violation.status = "active";
        out.violation.last_violation_at_ms = v.started_at_ms;
        return {};
      }
      auto s = c.prepare(std::string("SELECT ") + kViolationColumns +
                         " FROM security_violations WHERE device_id = ?1 AND profile = ?2 AND "
                         "rule = ?3 AND status = 'active'");
      if (!s) return forward(s);
      s->bind_all(v.device_id, v.profile, v.rule);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return store::fail(store::Failure::kInternal, "active violation vanished");
      out = {read_violation(*s), false};
      return {};
    });
    if (!r) return forward(r);
    return out;
  }

  Result<void> continue_violation(const std::string& device_id, const std::string& profile,
                                  const std::string& rule, double value,
                                  std::int64_t at_ms) override {
    return db_->write([&](Connection& c) {
      return c.execute(
          "UPDATE security_violations SET value = max(value, ?4), "
          "last_violation_at = max(last_violation_at, ?5) "
          "WHERE device_id = ?1 AND profile = ?2 AND rule = ?3 AND status = 'active'",
          device_id, profile, rule, value, at_ms);
    });
  }

  Result<std::optional<std::int64_t>> clear_violation(const std::string& device_id,
                                                      const std::string& profile,
                                                      const std::string& rule,
                                                      std::int64_t at_ms) override {
    std::optional<std::int64_t> id;
    auto r = db_->write([&](Connection& c) -> Result<void> {
      auto v = c.query_value<std::int64_t>(
          "UPDATE security_violations SET status = 'cleared', cleared_at = ?4 WHERE device_id = "
          "?1 AND profile = ?2 AND rule = ?3 AND status = 'active' RETURNING id",
          device_id, profile, rule, at_ms);
      if (!v) return forward(v);
      id = *v;
      return {};
    });
    if (!r) return forward(r);
    return id;
  }

  Result<std::vector<Violation>> active_violations() override {
    return db_->read([](Connection& c) -> Result<std::vector<Violation>> {
      auto s = c.prepare(std::string("SELECT ") + kViolationColumns +
                         " FROM security_violations WHERE status = 'active' ORDER BY id");
      if (!s) return forward(s);
      return collect<Violation>(*s, read_violation);
    });
  }

  Result<std::vector<Violation>> violations(const store::ViolationFilter& filter, int limit,
                                            std::optional<std::int64_t> before_id) override {
    return db_->read([&](Connection& c) -> Result<std::vector<Violation>> {
      auto s = c.prepare(std::string("SELECT ") + kViolationColumns +
                         " FROM security_violations WHERE (?1 IS NULL OR status = ?1) AND "
                         "(?2 IS NULL OR device_id = ?2) AND (?3 IS NULL OR id < ?3) "
                         "ORDER BY id DESC LIMIT ?4");
      if (!s) return forward(s);
      s->bind_all(filter.status, filter.device_id, before_id, limit);
      return collect<Violation>(*s, read_violation);
    });
  }

  Result<std::optional<Quarantine>> quarantine(const std::string& device_id) override {
    return db_->read([&](Connection& c) -> Result<std::optional<Quarantine>> {
      auto s = c.prepare(std::string("SELECT ") + kQuarantineColumns +
                         " FROM device_quarantine WHERE device_id = ?1");
      if (!s) return forward(s);
      s->bind(1, device_id);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<Quarantine>{};
      return std::optional<Quarantine>(read_quarantine(*s));
    });
  }

  Result<bool> add_quarantine(const Quarantine& q) override {
    bool added = false;
    auto r = db_->write([&](Connection& c) -> Result<void> {
      auto e = c.execute(
          "INSERT INTO device_quarantine (device_id, reason, source, violation_id, created_at, "
          "created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (device_id) DO NOTHING",
          q.device_id, q.reason, q.source, q.violation_id, q.created_at_ms, q.created_by);
      added = e && c.changes() > 0;
      return e;
    });
    if (!r) return forward(r);
    return added;
  }

  Result<bool> release(const std::string& device_id) override {
    bool released = false;
    auto r = db_->write([&](Connection& c) -> Result<void> {
      auto e = c.execute("DELETE FROM device_quarantine WHERE device_id = ?1", device_id);
      released = e && c.changes() > 0;
      return e;
    });
    if (!r) return forward(r);
    return released;
  }

  Result<std::vector<Quarantine>> quarantined(int limit,
                                              std::optional<std::string> after) override {
    return db_->read([&](Connection& c) -> Result<std::vector<Quarantine>> {
      auto s = c.prepare(std::string("SELECT ") + kQuarantineColumns +
                         " FROM device_quarantine WHERE (?1 IS NULL OR device_id > ?1) "
                         "ORDER BY device_id LIMIT ?2");
      if (!s) return forward(s);
      s->bind_all(after, limit);
      return collect<Quarantine>(*s, read_quarantine);
    });
  }

  Result<std::int64_t> quarantined_count() override {
    return db_->read([](Connection& c) -> Result<std::int64_t> {
      auto v = c.query_value<std::int64_t>("SELECT count(*) FROM device_quarantine");
      if (!v) return forward(v);
      return v->value_or(0);
    });
  }

  Result<std::optional<std::string>> baseline(const std::string& device_id,
                                              const std::string& metric, int duration_s) override {
    return db_->read([&](Connection& c) -> Result<std::optional<std::string>> {
      auto s = c.prepare(
          "SELECT data FROM behaviour_baselines WHERE device_id = ?1 AND metric = ?2 AND "
          "duration_seconds = ?3");
      if (!s) return forward(s);
      s->bind_all(device_id, metric, duration_s);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<std::string>{};
      auto blob = s->column<std::vector<std::byte>>(0);
      return std::optional<std::string>(
          std::string(reinterpret_cast<const char*>(blob.data()), blob.size()));
    });
  }

  Result<void> save_baselines(const std::vector<store::StoredBaseline>& baselines,
                              std::int64_t now_ms) override {
    if (baselines.empty()) return {};
    return db_->write([&](Connection& c) -> Result<void> {
      auto s = c.prepare(
          "INSERT INTO behaviour_baselines (device_id, metric, duration_seconds, data, "
          "updated_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device_id, metric, "
          "duration_seconds) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at");
      if (!s) return forward(s);
      for (const auto& b : baselines) {
        s->reset();
        s->bind_all(b.device_id, b.metric, b.duration_s,
                    std::as_bytes(std::span(b.data.data(), b.data.size())), now_ms);
        if (auto e = s->run(); !e) return e;
      }
      return {};
    });
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::DetectRepository> make_detect_repository(std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteDetectRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
