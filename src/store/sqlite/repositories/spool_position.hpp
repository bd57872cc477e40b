#pragma once
// The 'spool' row of a database's ingest_position, moved by the write jobs of spool records.
//
// Every record's job checks that the position is at its mark.after (no record before it failed)
// and stages mark.position; the staged position becomes the transaction's when the job's savepoint
// is released, and is written ONCE, before COMMIT, in the same transaction as the rows. So a crash
// resumes right after the last committed record, as with one UPDATE per record, at the cost of one
// UPDATE per batch.

#include <memory>
#include <optional>

#include "smartproduct/core/device_message.hpp"
#include "smartproduct/core/result.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/database.hpp"

namespace sp::sqlite {

class SpoolPositionStage {
 public:
  /// The database's one stage, with its commit hooks registered. Call before submitting the job
  /// that uses it (hooks registered mid-batch would miss that batch).
  static std::shared_ptr<SpoolPositionStage> of(Database& db);

  /// Inside a write job: fails (kUnavailable) unless the position is at mark.after; else stages
  /// mark.position for when the job is kept.
  Result<void> advance(Connection& conn, const SpoolMark& mark);

 private:
  void after_job(bool kept);
  Result<void> before_commit(Connection& conn);
  void after_rollback();

  // All touched on the writer thread only.
  std::optional<SpoolPosition> current_;  // the transaction's position; empty: read it again
  std::optional<SpoolPosition> staged_;   // the running job's
  bool dirty_ = false;                    // current_ differs from the row
};

}  // namespace sp::sqlite
