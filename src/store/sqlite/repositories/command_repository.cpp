#include "smartproduct/store/command_repository.hpp"

#include "smartproduct/store/failure.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"
#include "store/sqlite/repositories/shadow_rows.hpp"

namespace sp::sqlite {
namespace {

using commands::Command;
using commands::CommandStatus;
using nlohmann::json;

constexpr const char* kColumns =
    "rowid, id, device_id, owner, command, value, details, field, status, reason, created_at, "
    "updated_at, expires_at";

Result<Command> read_command(Statement& s) {
  Command c;
  c.seq = s.column<std::int64_t>(0);
  c.id = s.column<std::string>(1);
  c.device_id = s.column<std::string>(2);
  c.owner = s.column<std::string>(3);
  c.command = s.column<std::string>(4);
  c.value = json::parse(s.column<std::string>(5), nullptr, false);
  c.details = json::parse(s.column<std::string>(6), nullptr, false);
  c.field = s.column<std::string>(7);
  auto status = commands::command_status_from(s.column<std::string>(8));
  if (c.value.is_discarded() || c.details.is_discarded() || !status) {
    return store::fail(store::Failure::kCorrupt, "a stored command cannot be read",
                       "command " + c.id);
  }
  c.status = *status;
  c.reason = s.column<std::optional<std::string>>(9);
  c.created_at_ms = s.column<std::int64_t>(10);
  c.updated_at_ms = s.column<std::int64_t>(11);
  c.expires_at_ms = s.column<std::int64_t>(12);
  return c;
}

Result<std::vector<Command>> read_all(Statement& s) {
  std::vector<Command> out;
  for (;;) {
    auto row = s.step();
    if (!row) return forward(row);
    if (!*row) return out;
    auto c = read_command(s);
    if (!c) return forward(c);
    out.push_back(std::move(*c));
  }
}

class SqliteCommandRepository final : public store::CommandRepository {
 public:
  explicit SqliteCommandRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<store::CommandCreated> create(const Command& command,
                                       const store::ShadowEdit& edit) override {
    store::CommandCreated out;
    auto r = db_->write([&](Connection& conn) -> Result<void> {
      out = {};
      // The partial unique index (device_id, field) WHERE pending allows one pending command per
      // field: the older one steps aside first, in the same transaction.
      auto sup = conn.prepare(std::string("UPDATE commands SET status = 'superseded', reason = ?4, "
                                          "updated_at = ?3 WHERE device_id = ?1 AND field = ?2 "
                                          "AND status = 'pending' RETURNING ") +
                              kColumns);
      if (!sup) return forward(sup);
      sup->bind_all(command.device_id, command.field, command.created_at_ms,
                    "superseded by " + command.id);
      auto superseded = read_all(*sup);
      if (!superseded) return forward(superseded);
      out.superseded = std::move(*superseded);

      auto ins = conn.prepare(
          "INSERT INTO commands (id, device_id, owner, command, value, details, field, status, "
          "reason, created_at, updated_at, expires_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', NULL, ?8, ?9, ?10)");
      if (!ins) return forward(ins);
      ins->bind_all(command.id, command.device_id, command.owner, command.command,
                    command.value.dump(), command.details.dump(), command.field,
                    command.created_at_ms, command.updated_at_ms, command.expires_at_ms);
      if (auto e = ins->run(); !e) return forward(e);
      out.command = command;
      out.command.status = CommandStatus::kPending;
      out.command.reason.reset();
      out.command.seq = conn.last_insert_rowid();

      if (edit) {
        auto stored = select_shadow_row(conn, command.device_id);
        if (!stored) return forward(stored);
        auto next = edit(*stored);
        if (!next) return forward(next);
        std::optional<store::ShadowStamp> expected;
        if (*stored) expected = store::ShadowStamp{(*stored)->version, (*stored)->deleted};
        auto saved = write_shadow_row(conn, *next, expected);
        if (!saved) return forward(saved);
        // Unreachable with one writer (the row was read in this job); kept as a guard.
        if (!*saved) return store::fail(store::Failure::kConflict, "the shadow changed meanwhile");
      }
      return {};
    });
    if (!r) return forward(r);
    return out;
  }

  Result<std::optional<Command>> find(std::string_view device_id, std::string_view id) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<Command>> {
      auto s = conn.prepare(std::string("SELECT ") + kColumns +
                            " FROM commands WHERE id = ?1 AND device_id = ?2");
      if (!s) return forward(s);
      s->bind_all(id, device_id);
      auto rows = read_all(*s);
      if (!rows) return forward(rows);
      if (rows->empty()) return std::optional<Command>{};
      return std::optional<Command>(std::move(rows->front()));
    });
  }

  Result<std::vector<Command>> list(std::string_view device_id,
                                    const std::optional<std::string>& owner,
                                    std::optional<CommandStatus> status, int limit,
                                    const std::optional<commands::CommandKey>& after) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<Command>> {
      // NULL parameters switch a filter off, so one statement (cached) serves every query.
      auto s =
          conn.prepare(std::string("SELECT ") + kColumns +
                       " FROM commands WHERE device_id = ?1 AND (?2 IS NULL OR owner = ?2) "
                       "AND (?3 IS NULL OR status = ?3) "
                       "AND (?4 IS NULL OR created_at < ?4 OR (created_at = ?4 AND rowid < ?5)) "
                       "ORDER BY created_at DESC, rowid DESC LIMIT ?6");
      if (!s) return forward(s);
      std::optional<std::string> status_text;
      if (status) status_text = std::string(commands::to_string(*status));
      std::optional<std::int64_t> at, seq;
      if (after) {
        at = after->created_at_ms;
        seq = after->seq;
      }
      s->bind_all(device_id, owner, status_text, at, seq, limit);
      return read_all(*s);
    });
  }

  Result<store::ReplyResult> complete(std::string_view device_id, std::string_view id,
                                      CommandStatus status, std::string_view reason,
                                      std::int64_t now_ms) override {
    store::ReplyResult out;
    auto r = db_->write([&](Connection& conn) -> Result<void> {
      out = {};
      // The WHERE is the whole rule: that device's command, still pending, not expired. No upsert.
      auto s = conn.prepare(std::string("UPDATE commands SET status = ?3, reason = ?4, "
                                        "updated_at = ?5 WHERE id = ?1 AND device_id = ?2 AND "
                                        "status = 'pending' AND expires_at > ?5 RETURNING ") +
                            kColumns);
      if (!s) return forward(s);
      s->bind_all(id, device_id, commands::to_string(status), reason, now_ms);
      auto rows = read_all(*s);
      if (!rows) return forward(rows);
      if (!rows->empty()) {
        out.outcome = store::ReplyOutcome::kApplied;
        out.command = std::move(rows->front());
        return {};
      }
      auto owner =
          conn.query_value<std::string>("SELECT device_id FROM commands WHERE id = ?1", id);
      if (!owner) return forward(owner);
      if (!*owner) {
        out.outcome = store::ReplyOutcome::kUnknown;
      } else if (**owner != device_id) {
        out.outcome = store::ReplyOutcome::kForeign;
      } else {
        out.outcome = store::ReplyOutcome::kNotPending;
      }
      return {};
    });
    if (!r) return forward(r);
    return out;
  }

  Result<std::vector<Command>> expire(std::int64_t now_ms) override {
    return fail_where(
        "UPDATE commands SET status = 'failed', reason = 'timeout', updated_at = ?1 WHERE "
        "status = 'pending' AND expires_at <= ?1 RETURNING ",
        now_ms);
  }

  Result<std::vector<Command>> fail_pending(std::string_view device_id, std::string_view reason,
                                            std::int64_t now_ms) override {
    return fail_where(
        "UPDATE commands SET status = 'failed', reason = ?3, updated_at = ?1 WHERE "
        "status = 'pending' AND device_id = ?2 RETURNING ",
        now_ms, device_id, reason);
  }

  Result<std::vector<Command>> pending(std::string_view device_id, std::int64_t now_ms) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<Command>> {
      auto s = conn.prepare(std::string("SELECT ") + kColumns +
                            " FROM commands WHERE status = 'pending' AND device_id = ?1 AND "
                            "expires_at > ?2 ORDER BY created_at, rowid");
      if (!s) return forward(s);
      s->bind_all(device_id, now_ms);
      return read_all(*s);
    });
  }

 private:
  // Runs an UPDATE ... RETURNING (`sql` ends before the column list) and returns the rows.
  template <class... Args>
  Result<std::vector<Command>> fail_where(const char* sql, const Args&... args) {
    std::vector<Command> out;
    auto r = db_->write([&](Connection& conn) -> Result<void> {
      auto s = conn.prepare(std::string(sql) + kColumns);
      if (!s) return forward(s);
      s->bind_all(args...);
      auto rows = read_all(*s);
      if (!rows) return forward(rows);
      out = std::move(*rows);
      return {};
    });
    if (!r) return forward(r);
    return out;
  }

  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::CommandRepository> make_command_repository(
    std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteCommandRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
