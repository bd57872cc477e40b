#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/sqlite/connection.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/repositories/spool_position.hpp"

namespace sp::sqlite {

/// One prepared statement kept for the connection it was prepared on. Write jobs of a Database all
/// run on its single writer connection, so hot insert paths prepare once instead of per message.
/// Not thread-safe: use only from write jobs (or only from one thread).
class CachedStatement {
 public:
  explicit CachedStatement(std::string sql) : sql_(std::move(sql)) {}

  Result<Statement*> get(Connection& conn) {
    if (!stmt_ || conn_ != &conn) {
      auto prepared = conn.prepare(sql_);
      if (!prepared) return tl::unexpected(prepared.error());
      stmt_.emplace(std::move(*prepared));
      conn_ = &conn;
    }
    stmt_->reset();
    return &*stmt_;
  }

 private:
  std::string sql_;
  std::optional<Statement> stmt_;
  Connection* conn_ = nullptr;
};

/// Runs `insert` (ONE statement: an INSERT ... ON CONFLICT DO NOTHING, then only in-memory work) as
/// a group-committed write; `done` gets
/// `stored` after the commit, or `duplicate` when the insert changed no row (a redelivery).
/// `and_then`, when given, runs after a row was inserted, in the same job (same transaction).
/// `mark` (a record from the broker's spool) moves the database's spool position in the same job.
template <class Outcome>
void insert_unless_duplicate(Database& db, std::function<Result<void>(Connection&)> insert,
                             Outcome stored, Outcome duplicate,
                             std::function<void(Result<Outcome>)> done,
                             std::function<Result<void>(Connection&)> and_then = {},
                             std::optional<SpoolMark> mark = std::nullopt) {
  auto outcome = std::make_shared<Outcome>(stored);
  std::shared_ptr<SpoolPositionStage> stage;
  if (mark) stage = SpoolPositionStage::of(db);
  // Without and_then the insert is the job's only statement, and it runs last (the position
  // check before it): no savepoint is needed to undo it alone.
  const auto undo = and_then ? Database::JobUndo::kSavepoint : Database::JobUndo::kLastStatement;
  db.write_async(
      [insert = std::move(insert), and_then = std::move(and_then), outcome, duplicate, mark,
       stage = std::move(stage)](Connection& conn) -> Result<void> {
        // A redelivery moves the spool position too: the record was consumed either way. Staged
        // only, taken when the job is kept.
        if (mark) {
          if (auto r = stage->advance(conn, *mark); !r) return r;
        }
        if (auto r = insert(conn); !r) return r;
        if (conn.changes() == 0) {
          *outcome = duplicate;
        } else if (and_then) {
          if (auto r = and_then(conn); !r) return r;
        }
        return {};
      },
      [outcome, done = std::move(done)](Result<void> r) {
        if (!r) {
          done(tl::unexpected(r.error()));
        } else {
          done(*outcome);
        }
      },
      undo);
}

/// Rows of a device-keyed table for one device, or all rows when device_id is empty. `table` is
/// a constant from the calling repository, never input.
inline Result<int64_t> count_device_rows(Database& db, std::string_view table,
                                         const std::string& device_id) {
  return db.read([&](Connection& conn) -> Result<int64_t> {
    std::string sql = "SELECT count(*) FROM " + std::string(table);
    auto v = device_id.empty()
                 ? conn.query_value<int64_t>(sql)
                 : conn.query_value<int64_t>(sql + " WHERE device_id = ?1", device_id);
    if (!v) return tl::unexpected(v.error());
    return v->value_or(0);
  });
}

}  // namespace sp::sqlite
