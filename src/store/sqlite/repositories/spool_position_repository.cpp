#include "smartproduct/store/spool_position_repository.hpp"

#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/spool_position.hpp"

namespace sp::sqlite {

Result<void> advance_spool_position(Connection& conn, const SpoolMark& mark) {
  auto stmt = conn.prepare(
      "UPDATE ingest_position SET segment = ?1, seq = ?2 "
      "WHERE source = 'spool' AND segment = ?3 AND seq = ?4");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->bind_all(mark.position.segment, mark.position.seq, mark.after.segment, mark.after.seq);
  if (auto r = stmt->run(); !r) return r;
  if (conn.changes() != 1) {
    // An earlier record of this database was not committed (its store failed): this one must
    // not be either, or it would leave a gap. The tailer resumes from the committed position.
    return fail(
        ErrorKind::kUnavailable, "StoreUnavailable", "the spool position moved out of order",
        "expected " + std::to_string(mark.after.segment) + "/" + std::to_string(mark.after.seq));
  }
  return {};
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
    return db_->write([mark](Connection& conn) { return advance_spool_position(conn, mark); });
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
