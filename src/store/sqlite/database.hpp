#pragma once
// One SQLite database file with a single batching writer thread and a small pool of read-only
// reader connections. Does not include the SQLite C header.
//
// Writes: jobs submitted from any thread are queued; the writer thread takes up to write_batch_max
// of them and runs them in ONE transaction (BEGIN IMMEDIATE ... COMMIT), each job inside its own
// SAVEPOINT, so a failing job is rolled back alone while its neighbours commit. Completion
// callbacks run on the writer thread only after COMMIT returned: when a callback reports success,
// the job's changes are durable (with synchronous=FULL, even across power loss). This is the group
// commit the MQTT ingest relies on to acknowledge a message only after its row is committed.
//
// Reads: read(f) runs f on a pooled reader connection (PRAGMA query_only=ON) from any thread; in
// WAL mode readers see the last committed state and never block the writer, nor it them.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "smartproduct/core/histogram.hpp"
#include "smartproduct/core/result.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/migrations.hpp"

namespace sp::sqlite {

/// Work for the writer thread. Runs inside a SAVEPOINT of the batch transaction: return an error
/// (or throw) to roll back this job's changes only. Must not BEGIN/COMMIT/ROLLBACK itself, and must
/// not call Database::write() (that would wait for itself).
using WriteJob = std::function<Result<void>(Connection&)>;
/// Called on the writer thread with the job's outcome, after the batch's COMMIT returned. Keep it
/// short (it delays the next batch); it may call write_async() but not write().
using WriteCallback = std::function<void(Result<void>)>;

struct DatabaseConfig {
  std::filesystem::path path;
  /// Applied at open, in order; see migrations.hpp. Usually embedded_migrations("main").
  std::vector<Migration> migrations;
  int busy_timeout_ms = 5000;
  Synchronous synchronous = Synchronous::kFull;
  /// Most jobs per transaction.
  std::size_t write_batch_max = 256;
  /// write_async() blocks callers (other than the writer thread) while this many jobs are queued.
  std::size_t write_queue_max = 100000;
  /// Reader connections in the pool (at least 1).
  std::size_t reader_count = 2;
};

/// Work a repository does once per batch transaction, on the writer thread (e.g. writing what its
/// jobs accumulated in memory). `before_commit` runs inside the transaction before COMMIT; an error
/// rolls the whole batch back (every job fails). `after_rollback` runs when the transaction was
/// rolled back, so that state accumulated by its jobs is dropped.
struct CommitHooks {
  std::function<Result<void>(Connection&)> before_commit;
  std::function<void()> after_rollback;
  /// After each job of the transaction: `kept` when its savepoint was released, false when the
  /// job was rolled back alone. State a job staged for before_commit is taken or dropped here.
  std::function<void(bool kept)> after_job;
};

/// Counters for tests and metrics; monotonically increasing except queue_depth.
struct DatabaseStats {
  std::uint64_t transactions_committed = 0;
  std::uint64_t jobs_committed = 0;
  std::uint64_t jobs_failed = 0;
  /// Batches whose BEGIN or COMMIT failed (all their jobs were reported failed).
  std::uint64_t transactions_failed = 0;
  std::uint64_t queue_depth = 0;
};

template <class T>
struct IsResult : std::false_type {};
template <class T>
struct IsResult<tl::expected<T, Error>> : std::true_type {};

class Database {
 public:
  /// Opens the file (creating it if missing), applies pending migrations, opens the reader pool and
  /// starts the writer thread. Fails with a message naming the file on any problem, including a
  /// database written by a newer program (user_version beyond the known migrations).
  static Result<std::shared_ptr<Database>> open(DatabaseConfig config);

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  /// Calls close().
  ~Database();

  /// How a job's changes are undone when it fails while its neighbours commit.
  enum class JobUndo {
    /// Inside its own SAVEPOINT, rolled back to it on failure (any job).
    kSavepoint,
    /// The job's only change to the database is one statement, run last (checks that may fail
    /// come before it): SQLite undoes a failed statement by itself and keeps the transaction, so
    /// no savepoint is taken. Saves the writer two statements per job on hot insert paths.
    kLastStatement,
  };

  /// Queues `job`; `on_done` (may be empty) runs on the writer thread after the commit. After
  /// close(), on_done is called at once on the calling thread with a kUnavailable error.
  void write_async(WriteJob job, WriteCallback on_done, JobUndo undo = JobUndo::kSavepoint);
  /// Queues `job` and waits for its committed outcome. Must not be called on the writer thread.
  Result<void> write(WriteJob job);

  /// Runs f(Connection&) on a reader connection (query_only) and returns its result; f must return
  /// sp::Result<T>. Waits for a free reader if all are in use. Callable from any thread.
  template <class F>
  auto read(F&& f) -> std::invoke_result_t<F&, Connection&> {
    using R = std::invoke_result_t<F&, Connection&>;
    static_assert(IsResult<R>::value, "read() callbacks must return sp::Result<T>");
    auto lease = acquire_reader();
    if (!lease) return R(tl::unexpected(lease.error()));
    return f(lease->connection());
  }

  /// Writes a consistent copy of the database to `destination` (online backup API; writers keep
  /// going meanwhile). The copy is written to a temporary file, synced and renamed into place, mode
  /// 0600. Fails if `destination` already exists.
  Result<void> backup_to(const std::filesystem::path& destination);

  /// False once closed, or while the last batch could not begin or commit (disk full, I/O error).
  bool healthy() const;
  /// Finishes every queued write, stops the writer thread, waits for running reads and closes all
  /// connections. Idempotent. Must not be called from the writer thread.
  void close();

  DatabaseStats stats() const;
  /// Seconds from a batch's BEGIN IMMEDIATE to its COMMIT returning, per committed batch: how long
  /// the batch's jobs (and the acknowledgements that wait for them) waited on the writer.
  const Histogram& commit_duration() const;
  /// Registers hooks for every later batch transaction. Callable from any thread.
  void add_commit_hooks(CommitHooks hooks);
  /// The one T kept for this database (state that write jobs of several repositories share on the
  /// writer thread); created on first use by `make`, which may register commit hooks. Callable
  /// from any thread.
  template <class T, class Make>
  std::shared_ptr<T> shared_state(Make&& make) {
    return std::static_pointer_cast<T>(
        shared_state_slot(typeid(T), [&]() -> std::shared_ptr<void> { return make(*this); }));
  }
  const std::filesystem::path& path() const;

 private:
  struct Impl;

  /// Returns a reader connection to the pool when destroyed.
  class ReaderLease {
   public:
    ReaderLease(Impl* impl, Connection* conn) : impl_(impl), conn_(conn) {}
    ReaderLease(ReaderLease&& other) noexcept
        : impl_(std::exchange(other.impl_, nullptr)), conn_(std::exchange(other.conn_, nullptr)) {}
    ReaderLease& operator=(ReaderLease&&) = delete;
    ~ReaderLease();
    Connection& connection() { return *conn_; }

   private:
    Impl* impl_;
    Connection* conn_;
  };

  explicit Database(std::unique_ptr<Impl> impl);
  Result<ReaderLease> acquire_reader();
  std::shared_ptr<void> shared_state_slot(const std::type_info& type,
                                          const std::function<std::shared_ptr<void>()>& make);

  std::unique_ptr<Impl> impl_;
};

}  // namespace sp::sqlite
