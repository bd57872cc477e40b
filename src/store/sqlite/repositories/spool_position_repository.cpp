#include "smartproduct/store/spool_position_repository.hpp"

#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/spool_position.hpp"

namespace sp::sqlite {

std::shared_ptr<SpoolPositionStage> SpoolPositionStage::of(Database& db) {
  return db.shared_state<SpoolPositionStage>([](Database& d) {
    auto stage = std::make_shared<SpoolPositionStage>();
    CommitHooks hooks;
    hooks.after_job = [stage](bool kept) { stage->after_job(kept); };
    hooks.before_commit = [stage](Connection& conn) { return stage->before_commit(conn); };
    hooks.after_rollback = [stage] { stage->after_rollback(); };
    d.add_commit_hooks(std::move(hooks));
    return stage;
  });
}

Result<void> SpoolPositionStage::advance(Connection& conn, const SpoolMark& mark) {
  if (!current_) {
    auto stmt = conn.prepare("SELECT segment, seq FROM ingest_position WHERE source = 'spool'");
    if (!stmt) return tl::unexpected(stmt.error());
    auto row = stmt->step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) {
      return fail(ErrorKind::kUnavailable, "StoreUnavailable", "no spool position",
                  "ingest_position has no 'spool' row");
    }
    current_ = SpoolPosition{stmt->column<int64_t>(0), stmt->column<int64_t>(1)};
  }
  if (*current_ != mark.after) {
    // An earlier record of this database was not committed (its store failed): this one must
    // not be either, or it would leave a gap. The tailer resumes from the committed position.
    return fail(
        ErrorKind::kUnavailable, "StoreUnavailable", "the spool position moved out of order",
        "expected " + std::to_string(mark.after.segment) + "/" + std::to_string(mark.after.seq));
  }
  staged_ = mark.position;
  return {};
}

void SpoolPositionStage::after_job(bool kept) {
  if (kept && staged_) {
    current_ = staged_;
    dirty_ = true;
  }
  staged_.reset();
}

Result<void> SpoolPositionStage::before_commit(Connection& conn) {
  if (!dirty_) return {};
  auto stmt =
      conn.prepare("UPDATE ingest_position SET segment = ?1, seq = ?2 WHERE source = 'spool'");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->bind_all(current_->segment, current_->seq);
  if (auto r = stmt->run(); !r) return r;
  dirty_ = false;
  return {};
}

void SpoolPositionStage::after_rollback() {
  current_.reset();
  staged_.reset();
  dirty_ = false;
}

namespace {

class SqliteSpoolPositionRepository final : public store::SpoolPositionRepository {
 public:
  explicit SqliteSpoolPositionRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<SpoolPosition> load() override {
    if (auto r = db_->write([](Connection& conn) -> Result<void> {
          auto stmt = conn.prepare(
              "INSERT INTO ingest_position (source, segment, seq) VALUES ('spool', 0, 0) "
              "ON CONFLICT DO NOTHING");
          if (!stmt) return tl::unexpected(stmt.error());
          return stmt->run();
        });
        !r) {
      return tl::unexpected(r.error());
    }
    return db_->read([](Connection& conn) -> Result<SpoolPosition> {
      auto stmt = conn.prepare("SELECT segment, seq FROM ingest_position WHERE source = 'spool'");
      if (!stmt) return tl::unexpected(stmt.error());
      auto row = stmt->step();
      if (!row) return tl::unexpected(row.error());
      if (!*row) return fail(ErrorKind::kUnavailable, "StoreUnavailable", "no spool position");
      return SpoolPosition{stmt->column<int64_t>(0), stmt->column<int64_t>(1)};
    });
  }

  Result<void> advance(const SpoolMark& mark) override {
    return db_->write([mark, stage = SpoolPositionStage::of(*db_)](Connection& conn) {
      return stage->advance(conn, mark);
    });
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::SpoolPositionRepository> make_spool_position_repository(
    std::shared_ptr<Database> db) {
  return std::make_unique<SqliteSpoolPositionRepository>(std::move(db));
}

}  // namespace sp::sqlite
