#include "store/sqlite/repositories/claim_attempts.hpp"

#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using devices::ClaimCount;

class SqliteClaimAttemptCounter final : public devices::ClaimAttemptCounter {
 public:
  explicit SqliteClaimAttemptCounter(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<ClaimCount> add(std::string_view device_id, std::int64_t now_s,
                         std::int64_t window_s) override {
    ClaimCount out;
    auto r = db_->write(
        [k = std::string(device_id), now_s, window_s, &out](Connection& conn) -> Result<void> {
          // The SET expressions all read the row as it was, so both CASEs agree on a restart.
          auto s = conn.prepare(
              "INSERT INTO claim_failures (device_id, count, window_start) VALUES (?1, 1, ?2) "
              "ON CONFLICT (device_id) DO UPDATE SET "
              "count = CASE WHEN ?2 - window_start >= ?3 THEN 1 ELSE count + 1 END, "
              "window_start = CASE WHEN ?2 - window_start >= ?3 THEN ?2 ELSE window_start END "
              "RETURNING count, window_start");
          if (!s) return forward(s);
          s->bind_all(k, now_s, window_s);
          auto row = s->step();
          if (!row) return forward(row);
          if (!*row) return fail(ErrorKind::kInternal, "InternalError", "upsert returned no row");
          out = ClaimCount{s->column<int>(0), s->column<std::int64_t>(1)};
          return {};
        });
    if (!r) return forward(r);
    return out;
  }

  Result<ClaimCount> get(std::string_view device_id) override {
    return db_->read([&](Connection& conn) -> Result<ClaimCount> {
      auto s = conn.prepare("SELECT count, window_start FROM claim_failures WHERE device_id = ?1");
      if (!s) return forward(s);
      s->bind_all(device_id);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return ClaimCount{};
      return ClaimCount{s->column<int>(0), s->column<std::int64_t>(1)};
    });
  }

  Result<void> clear(std::string_view device_id) override {
    return db_->write([k = std::string(device_id)](Connection& conn) {
      return conn.execute("DELETE FROM claim_failures WHERE device_id = ?1", k);
    });
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<devices::ClaimAttemptCounter> make_claim_attempt_counter(
    std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteClaimAttemptCounter>(std::move(main_db));
}

}  // namespace sp::sqlite
