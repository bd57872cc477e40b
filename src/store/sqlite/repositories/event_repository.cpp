#include "smartproduct/store/event_repository.hpp"

#include "store/sqlite/repositories/alert_sql.hpp"
#include "store/sqlite/repositories/event_rows.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/statement_cache.hpp"

namespace sp::sqlite {

std::string event_columns(std::string_view alias) {
  std::string out;
  for (const char* c : {"id", "device_id", "user_id", "message_id", "type", "message", "details",
                        "timestamp", "timestamp_from_device", "sent_at", "created_at", "updated_at",
                        "ack", "suppress", "payload"}) {
    if (!out.empty()) out += ", ";
    out.append(alias).append(c);
  }
  return out + ", coalesce(" + std::string(alias) + "dedup_key, '')";
}

events::EventRecord read_event_row(const Statement& s, int first) {
  events::EventRecord e;
  int c = first;
  e.id = s.column<std::string>(c++);
  e.device_id = s.column<std::string>(c++);
  e.user_id = s.column<std::optional<std::string>>(c++);
  e.message_id = s.column<std::string>(c++);
  e.type = s.column<std::string>(c++);
  e.message = s.column<std::string>(c++);
  e.details = nlohmann::json::parse(s.column<std::string>(c++), nullptr, false);
  e.timestamp_ms = s.column<int64_t>(c++);
  e.timestamp_from_device = s.column<bool>(c++);
  e.sent_at = s.column<std::string>(c++);
  e.created_at_ms = s.column<int64_t>(c++);
  e.updated_at_ms = s.column<int64_t>(c++);
  e.ack = s.column<bool>(c++);
  e.suppress = s.column<bool>(c++);
  e.payload = s.column<std::string>(c++);
  e.dedup_key = s.column<std::string>(c++);
  return e;
}

namespace {

using events::AppendOutcome;
using events::EventRecord;

class SqliteEventRepository final : public store::EventRepository {
 public:
  SqliteEventRepository(std::shared_ptr<Database> db, std::optional<alerts::Grouping> grouping)
      : db_(std::move(db)), grouping_(grouping) {}

  // The events store step: the event row and, for a new event of an owned device, its alert group
  // and notification outbox row, in ONE job of the group-committed transaction, so a kill -9 keeps
  // all of them or none, and the acknowledgement (done) follows the commit of all of them.
  void append(EventRecord e, std::function<void(Result<AppendOutcome>)> done) override {
    std::function<Result<void>(Connection&)> alert_step;
    if (grouping_ && e.user_id) {
      alert_step = [e, grouping = *grouping_](Connection& conn) {
        return record_alert_occurrence(conn, e, grouping);
      };
    }
    const auto mark = e.spool_mark;
    insert_unless_duplicate<AppendOutcome>(
        *db_,
        [this, e = std::move(e)](Connection& conn) -> Result<void> {
          auto stmt = insert_.get(conn);
          if (!stmt) return tl::unexpected(stmt.error());
          std::optional<std::string> dedup;
          if (!e.dedup_key.empty()) dedup = e.dedup_key;
          (*stmt)->bind_all(e.id, e.device_id, e.user_id, e.message_id, e.type, e.message,
                            e.details.dump(), e.timestamp_ms, e.timestamp_from_device ? 1 : 0,
                            e.sent_at, e.created_at_ms, e.updated_at_ms, e.ack ? 1 : 0,
                            e.suppress ? 1 : 0, e.payload, dedup);
          return (*stmt)->run();
        },
        AppendOutcome::kStored, AppendOutcome::kDuplicate, std::move(done), std::move(alert_step),
        mark);
  }

  Result<std::optional<EventRecord>> find(const std::string& device_id,
                                          const std::string& event_id) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<EventRecord>> {
      auto stmt = conn.prepare("SELECT " + event_columns() +
                               " FROM events WHERE device_id = ?1 AND id = ?2");
      if (!stmt) return tl::unexpected(stmt.error());
      stmt->bind_all(device_id, event_id);
      auto row = stmt->step();
      if (!row) return tl::unexpected(row.error());
      if (!*row) return std::optional<EventRecord>{};
      return std::optional<EventRecord>{read_event_row(*stmt)};
    });
  }

  Result<std::vector<EventRecord>> recent(const std::string& device_id, int limit) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<EventRecord>> {
      auto stmt = conn.prepare("SELECT " + event_columns() +
                               " FROM events WHERE device_id = ?1 "
                               "ORDER BY timestamp DESC, id DESC LIMIT ?2");
      if (!stmt) return tl::unexpected(stmt.error());
      stmt->bind_all(device_id, limit);
      std::vector<EventRecord> out;
      for (;;) {
        auto row = stmt->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        out.push_back(read_event_row(*stmt));
      }
      return out;
    });
  }

  Result<int64_t> count(const std::string& device_id) override {
    return count_device_rows(*db_, "events", device_id);
  }

 private:
  std::shared_ptr<Database> db_;
  std::optional<alerts::Grouping> grouping_;
  CachedStatement insert_{
      "INSERT INTO events (id, device_id, user_id, message_id, type, message, details, timestamp, "
      "timestamp_from_device, sent_at, created_at, updated_at, ack, suppress, payload, dedup_key) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
      "ON CONFLICT DO NOTHING"};
};

}  // namespace

std::unique_ptr<store::EventRepository> make_event_repository(
    std::shared_ptr<Database> main_db, std::optional<alerts::Grouping> grouping) {
  return std::make_unique<SqliteEventRepository>(std::move(main_db), grouping);
}

}  // namespace sp::sqlite
