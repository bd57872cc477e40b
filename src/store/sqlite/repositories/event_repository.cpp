#include "smartproduct/store/event_repository.hpp"

#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/statement_cache.hpp"

namespace sp::sqlite {
namespace {

using events::AppendOutcome;
using events::EventRecord;

constexpr const char* kColumns =
    "id, device_id, user_id, message_id, type, message, details, timestamp, "
    "timestamp_from_device, sent_at, created_at, updated_at, ack, suppress, payload, "
    "coalesce(dedup_key, '')";

EventRecord read_row(Statement& s) {
  EventRecord e;
  e.id = s.column<std::string>(0);
  e.device_id = s.column<std::string>(1);
  e.user_id = s.column<std::optional<std::string>>(2);
  e.message_id = s.column<std::string>(3);
  e.type = s.column<std::string>(4);
  e.message = s.column<std::string>(5);
  e.details = nlohmann::json::parse(s.column<std::string>(6), nullptr, false);
  e.timestamp_ms = s.column<int64_t>(7);
  e.timestamp_from_device = s.column<bool>(8);
  e.sent_at = s.column<std::string>(9);
  e.created_at_ms = s.column<int64_t>(10);
  e.updated_at_ms = s.column<int64_t>(11);
  e.ack = s.column<bool>(12);
  e.suppress = s.column<bool>(13);
  e.payload = s.column<std::string>(14);
  e.dedup_key = s.column<std::string>(15);
  return e;
}

class SqliteEventRepository final : public store::EventRepository {
 public:
  explicit SqliteEventRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  void append(EventRecord e, std::function<void(Result<AppendOutcome>)> done) override {
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
        AppendOutcome::kStored, AppendOutcome::kDuplicate, std::move(done));
  }

  Result<std::optional<EventRecord>> find(const std::string& device_id,
                                          const std::string& event_id) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<EventRecord>> {
      auto stmt = conn.prepare(std::string("SELECT ") + kColumns +
                               " FROM events WHERE device_id = ?1 AND id = ?2");
      if (!stmt) return tl::unexpected(stmt.error());
      stmt->bind_all(device_id, event_id);
      auto row = stmt->step();
      if (!row) return tl::unexpected(row.error());
      if (!*row) return std::optional<EventRecord>{};
      return std::optional<EventRecord>{read_row(*stmt)};
    });
  }

  Result<std::vector<EventRecord>> recent(const std::string& device_id, int limit) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<EventRecord>> {
      auto stmt = conn.prepare(std::string("SELECT ") + kColumns +
                               " FROM events WHERE device_id = ?1 "
                               "ORDER BY timestamp DESC, id DESC LIMIT ?2");
      if (!stmt) return tl::unexpected(stmt.error());
      stmt->bind_all(device_id, limit);
      std::vector<EventRecord> out;
      for (;;) {
        auto row = stmt->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        out.push_back(read_row(*stmt));
      }
      return out;
    });
  }

  Result<int64_t> count(const std::string& device_id) override {
    return count_device_rows(*db_, "events", device_id);
  }

 private:
  std::shared_ptr<Database> db_;
  CachedStatement insert_{
      "INSERT INTO events (id, device_id, user_id, message_id, type, message, details, timestamp, "
      "timestamp_from_device, sent_at, created_at, updated_at, ack, suppress, payload, dedup_key) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
      "ON CONFLICT DO NOTHING"};
};

}  // namespace

std::unique_ptr<store::EventRepository> make_event_repository(std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteEventRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
