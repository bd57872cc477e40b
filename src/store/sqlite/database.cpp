#include "store/sqlite/database.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <typeindex>

#include "store/sqlite/sqlite_error.hpp"

namespace sp::sqlite {

namespace {

struct PendingWrite {
  WriteJob job;
  WriteCallback on_done;
  Database::JobUndo undo = Database::JobUndo::kSavepoint;
};

tl::unexpected<Error> closed_error(const std::filesystem::path& path) {
  return fail(ErrorKind::kUnavailable, "DatabaseClosed", "The database is not available.",
              "database " + path.string() + " is closed");
}

// A statement the writer runs for every job (SAVEPOINT, RELEASE): prepared once, kept.
class HeldStatement {
 public:
  explicit HeldStatement(const char* sql) : sql_(sql) {}
  Result<void> run(Connection& conn) {
    if (!stmt_) {
      auto prepared = conn.prepare(sql_);
      if (!prepared) return tl::unexpected(prepared.error());
      stmt_.emplace(std::move(*prepared));
    }
    return stmt_->reset().run();
  }
  void finalize() { stmt_.reset(); }

 private:
  const char* sql_;
  std::optional<Statement> stmt_;
};

tl::unexpected<Error> internal_error(std::string detail) {
  return fail(ErrorKind::kInternal, std::string(kErrorDatabase), "A storage error occurred.",
              std::move(detail));
}

void invoke_callback(const WriteCallback& on_done, Result<void> result) {
  if (!on_done) return;
  // An exception escaping here would kill the writer thread and with it every later write.
  try {
    on_done(std::move(result));
  } catch (...) {
  }
}

Result<void> fsync_path(const std::filesystem::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return internal_error("open " + path.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return internal_error("fsync " + path.string() + ": " + std::strerror(err));
  return {};
}

}  // namespace

struct Database::Impl {
  DatabaseConfig config;
  Connection writer;
  // After `writer` (destroyed before it); close() finalizes them before closing it.
  HeldStatement savepoint{"SAVEPOINT sp_job"};
  HeldStatement release{"RELEASE sp_job"};

  std::mutex queue_mutex;
  std::condition_variable work_cv;   // writer waits for jobs or stop
  std::condition_variable space_cv;  // producers wait for queue space
  std::deque<PendingWrite> queue;
  bool stopping = false;
  std::thread thread;
  std::thread::id writer_id;
  std::mutex close_mutex;  // serializes close()
  bool closed = false;

  std::mutex readers_mutex;
  std::condition_variable readers_cv;
  std::vector<std::unique_ptr<Connection>> readers;
  std::vector<Connection*> idle_readers;
  bool readers_closed = false;

  std::atomic<bool> healthy{true};
  std::atomic<std::uint64_t> transactions_committed{0};
  std::atomic<std::uint64_t> jobs_committed{0};
  std::atomic<std::uint64_t> jobs_failed{0};
  std::atomic<std::uint64_t> transactions_failed{0};
  std::atomic<std::uint64_t> queue_depth{0};
  Histogram commit_duration;

  Impl(DatabaseConfig cfg, Connection conn) : config(std::move(cfg)), writer(std::move(conn)) {}

  void run_writer();
  void run_batch(std::vector<PendingWrite>& batch);

  std::mutex hooks_mutex;
  std::vector<CommitHooks> hooks;
  std::mutex shared_state_mutex;
  std::map<std::type_index, std::shared_ptr<void>> shared_state;
  void release_reader(Connection* conn);
};

void Database::Impl::run_writer() {
  std::vector<PendingWrite> batch;
  for (;;) {
    batch.clear();
    {
      std::unique_lock lock(queue_mutex);
      work_cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping and drained
      const std::size_t take =
          std::min(queue.size(), std::max<std::size_t>(1, config.write_batch_max));
      for (std::size_t i = 0; i < take; ++i) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      queue_depth = queue.size();
    }
    space_cv.notify_all();
    run_batch(batch);
  }
}

void Database::Impl::run_batch(std::vector<PendingWrite>& batch) {
  std::vector<Result<void>> outcomes(batch.size());
  std::vector<std::size_t> in_transaction;  // jobs whose changes the open transaction holds
  bool open = false;
  std::chrono::steady_clock::time_point begun_at;

  // Fails every job the current transaction holds; used when that transaction is lost.
  std::vector<CommitHooks> batch_hooks;
  {
    std::lock_guard lock(hooks_mutex);
    batch_hooks = hooks;
  }
  auto lose_transaction = [&](const Error& cause) {
    for (auto& h : batch_hooks) {
      if (h.after_rollback) h.after_rollback();
    }
    for (std::size_t index : in_transaction) {
      Error error = cause;
      error.detail = "transaction rolled back: " + cause.detail;
      outcomes[index] = tl::unexpected(std::move(error));
    }
    jobs_failed += in_transaction.size();
    in_transaction.clear();
    open = false;
    transactions_failed += 1;
    healthy = false;
  };

  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!open) {
      if (auto begun = writer.exec("BEGIN IMMEDIATE"); !begun) {
        outcomes[i] = tl::unexpected(begun.error());
        jobs_failed += 1;
        transactions_failed += 1;
        healthy = false;
        continue;
      }
      open = true;
      begun_at = std::chrono::steady_clock::now();
    }
    const bool savepoint_taken = batch[i].undo == JobUndo::kSavepoint;
    if (savepoint_taken) {
      if (auto sp = savepoint.run(writer); !sp) {
        outcomes[i] = tl::unexpected(sp.error());
        jobs_failed += 1;
        continue;
      }
    }

    Result<void> result;
    try {
      result = batch[i].job ? batch[i].job(writer) : Result<void>{};
    } catch (const std::exception& e) {
      result = internal_error(std::string("write job threw: ") + e.what());
    } catch (...) {
      result = internal_error("write job threw a non-std exception");
    }
    if (result && savepoint_taken) {
      if (auto released = release.run(writer); !released) result = released;
    }
    for (auto& h : batch_hooks) {
      if (h.after_job) h.after_job(static_cast<bool>(result));
    }

    if (result) {
      in_transaction.push_back(i);
      continue;
    }
    jobs_failed += 1;
    outcomes[i] = std::move(result);
    if (writer.in_transaction()) {
      // A failed last statement was undone by SQLite itself, the transaction kept.
      if (!savepoint_taken) continue;
      if (writer.exec("ROLLBACK TO sp_job") && writer.exec("RELEASE sp_job")) continue;
      // The savepoint is unusable: give up on the whole transaction rather than commit half a job.
      const Error cause = outcomes[i].error();
      (void)writer.exec("ROLLBACK");
      lose_transaction(cause);
    } else {
      // SQLite rolled back the whole transaction by itself (I/O error, disk full, ...) or the job
      // ended it: the earlier jobs' changes are gone too.
      lose_transaction(outcomes[i].error());
    }
  }

  if (open) {
    for (auto& h : batch_hooks) {
      if (!h.before_commit) continue;
      Result<void> r;
      try {
        r = h.before_commit(writer);
      } catch (const std::exception& e) {
        r = internal_error(std::string("before-commit hook threw: ") + e.what());
      }
      if (!r) {
        if (writer.in_transaction()) (void)writer.exec("ROLLBACK");
        lose_transaction(r.error());
        break;
      }
    }
  }
  if (open) {
    if (auto committed = writer.exec("COMMIT"); committed) {
      commit_duration.observe(std::chrono::steady_clock::now() - begun_at);
      transactions_committed += 1;
      jobs_committed += in_transaction.size();
      healthy = true;
    } else {
      if (writer.in_transaction()) (void)writer.exec("ROLLBACK");
      lose_transaction(committed.error());
    }
  }

  // Only now, after COMMIT returned, may anyone learn that a job succeeded.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    invoke_callback(batch[i].on_done, std::move(outcomes[i]));
  }
  batch.clear();  // destroy jobs (and what they captured) on this thread, before the next batch
}

std::shared_ptr<void> Database::shared_state_slot(
    const std::type_info& type, const std::function<std::shared_ptr<void>()>& make) {
  std::lock_guard lock(impl_->shared_state_mutex);
  auto& slot = impl_->shared_state[std::type_index(type)];
  if (!slot) slot = make();
  return slot;
}

void Database::add_commit_hooks(CommitHooks hooks) {
  std::lock_guard lock(impl_->hooks_mutex);
  impl_->hooks.push_back(std::move(hooks));
}

void Database::Impl::release_reader(Connection* conn) {
  // A read that left a transaction open would pin an old snapshot and stop WAL checkpoints.
  if (conn->in_transaction()) (void)conn->exec("ROLLBACK");
  {
    std::lock_guard lock(readers_mutex);
    idle_readers.push_back(conn);
  }
  readers_cv.notify_all();
}

Database::ReaderLease::~ReaderLease() {
  if (impl_ && conn_) impl_->release_reader(conn_);
}

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Database::~Database() { close(); }

Result<std::shared_ptr<Database>> Database::open(DatabaseConfig config) {
  // Readers need their own connections to the same data, which a private :memory: database cannot
  // give; tests use a file in a temp directory instead.
  if (config.path == ":memory:") {
    return fail(ErrorKind::kInternal, std::string(kErrorOpen), "cannot open database :memory:",
                "Database needs a file (readers use separate connections); use a temp directory");
  }
  ConnectionOptions options;
  options.busy_timeout_ms = config.busy_timeout_ms;
  options.synchronous = config.synchronous;
  auto writer = Connection::open(config.path, options);
  if (!writer) return tl::unexpected(writer.error());
  if (auto migrated = apply_migrations(*writer, config.migrations); !migrated) {
    return tl::unexpected(migrated.error());
  }

  auto impl = std::make_unique<Impl>(std::move(config), std::move(*writer));
  ConnectionOptions reader_options = options;
  reader_options.query_only = true;
  reader_options.create = false;
  const std::size_t reader_count = std::max<std::size_t>(1, impl->config.reader_count);
  for (std::size_t i = 0; i < reader_count; ++i) {
    auto reader = Connection::open(impl->config.path, reader_options);
    if (!reader) return tl::unexpected(reader.error());
    impl->readers.push_back(std::make_unique<Connection>(std::move(*reader)));
    impl->idle_readers.push_back(impl->readers.back().get());
  }

  Impl* raw = impl.get();
  raw->thread = std::thread([raw] { raw->run_writer(); });
  // Set before open() returns, so before any job or callback can compare against it.
  raw->writer_id = raw->thread.get_id();
  return std::shared_ptr<Database>(new Database(std::move(impl)));
}

void Database::write_async(WriteJob job, WriteCallback on_done, JobUndo undo) {
  Impl& impl = *impl_;
  {
    std::unique_lock lock(impl.queue_mutex);
    // The writer thread itself must never wait for queue space: only it makes space.
    if (std::this_thread::get_id() != impl.writer_id) {
      impl.space_cv.wait(lock, [&] {
        return impl.stopping ||
               impl.queue.size() < std::max<std::size_t>(1, impl.config.write_queue_max);
      });
    }
    if (!impl.stopping) {
      impl.queue.push_back(PendingWrite{std::move(job), std::move(on_done), undo});
      impl.queue_depth = impl.queue.size();
      lock.unlock();
      impl.work_cv.notify_one();
      return;
    }
  }
  invoke_callback(on_done, closed_error(impl.config.path));
}

Result<void> Database::write(WriteJob job) {
  if (std::this_thread::get_id() == impl_->writer_id) {
    return internal_error("Database::write() called on the writer thread (would deadlock)");
  }
  auto promise = std::make_shared<std::promise<Result<void>>>();
  auto future = promise->get_future();
  write_async(std::move(job),
              [promise](Result<void> result) { promise->set_value(std::move(result)); });
  return future.get();
}

Result<Database::ReaderLease> Database::acquire_reader() {
  Impl& impl = *impl_;
  std::unique_lock lock(impl.readers_mutex);
  impl.readers_cv.wait(lock, [&] { return impl.readers_closed || !impl.idle_readers.empty(); });
  if (impl.readers_closed) return closed_error(impl.config.path);
  Connection* conn = impl.idle_readers.back();
  impl.idle_readers.pop_back();
  return ReaderLease(&impl, conn);
}

Result<void> Database::backup_to(const std::filesystem::path& destination) {
  std::error_code ec;
  if (std::filesystem::exists(destination, ec)) {
    return fail(ErrorKind::kConflict, "BackupExists", "The backup file already exists.",
                "backup destination " + destination.string() + " already exists");
  }
  const auto dir =
      destination.has_parent_path() ? destination.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(dir, ec)) {
    return fail(ErrorKind::kUnprocessable, "BackupFailed", "The backup directory does not exist.",
                "backup directory " + dir.string() + " does not exist");
  }
  const auto partial = std::filesystem::path(destination.string() + ".partial");
  std::filesystem::remove(partial, ec);
  int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return internal_error("create " + partial.string() + ": " + std::strerror(errno));
  ::close(fd);

  auto cleanup_fail = [&](Error error) {
    std::error_code ignored;
    std::filesystem::remove(partial, ignored);
    return tl::unexpected(std::move(error));
  };

  sqlite3* dest = nullptr;
  int rc =
      sqlite3_open_v2(partial.c_str(), &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error error = make_error(dest, rc, "open backup destination");
    sqlite3_close_v2(dest);
    return cleanup_fail(std::move(error));
  }
  {
    // Reading through a pooled reader gives the backup a consistent snapshot in WAL mode without
    // blocking the writer.
    auto lease = acquire_reader();
    if (!lease) {
      sqlite3_close_v2(dest);
      return cleanup_fail(lease.error());
    }
    sqlite3_backup* backup =
        sqlite3_backup_init(dest, "main", lease->connection().handle(), "main");
    if (backup == nullptr) {
      Error error = make_error(dest, sqlite3_errcode(dest), "backup init");
      sqlite3_close_v2(dest);
      return cleanup_fail(std::move(error));
    }
    do {
      rc = sqlite3_backup_step(backup, -1);
      if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) {
      Error error = make_error(dest, rc, "backup step");
      sqlite3_close_v2(dest);
      return cleanup_fail(std::move(error));
    }
  }
  // The copy carries the source's WAL flag; fold everything into the single file so the backup is
  // self-contained (no -wal beside it).
  char* message = nullptr;
  rc = sqlite3_exec(dest, "PRAGMA journal_mode=DELETE", nullptr, nullptr, &message);
  if (message) sqlite3_free(message);
  if (rc != SQLITE_OK) {
    Error error = make_error(dest, rc, "backup journal mode");
    sqlite3_close_v2(dest);
    return cleanup_fail(std::move(error));
  }
  rc = sqlite3_close(dest);
  if (rc != SQLITE_OK) {
    sqlite3_close_v2(dest);
    return cleanup_fail(internal_error("close backup destination failed").value());
  }
  if (auto synced = fsync_path(partial, O_RDONLY); !synced) return cleanup_fail(synced.error());
  if (::rename(partial.c_str(), destination.c_str()) != 0) {
    return cleanup_fail(internal_error("rename " + partial.string() + " to " +
                                       destination.string() + ": " + std::strerror(errno))
                            .value());
  }
  return fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

bool Database::healthy() const {
  {
    std::lock_guard lock(impl_->queue_mutex);
    if (impl_->stopping) return false;
  }
  return impl_->healthy.load();
}

void Database::close() {
  if (!impl_) return;
  Impl& impl = *impl_;
  if (std::this_thread::get_id() == impl.writer_id) {
    // Cannot join ourselves: stop accepting work; a later close() from another thread joins.
    std::lock_guard lock(impl.queue_mutex);
    impl.stopping = true;
    return;
  }
  std::lock_guard close_lock(impl.close_mutex);
  if (impl.closed) return;
  {
    std::lock_guard lock(impl.queue_mutex);
    impl.stopping = true;
  }
  impl.work_cv.notify_all();
  impl.space_cv.notify_all();
  if (impl.thread.joinable()) impl.thread.join();

  std::unique_lock lock(impl.readers_mutex);
  impl.readers_closed = true;
  impl.readers_cv.notify_all();
  // Wait for running reads to hand their connection back before closing it under them.
  impl.readers_cv.wait(lock, [&] { return impl.idle_readers.size() == impl.readers.size(); });
  impl.idle_readers.clear();
  impl.readers.clear();
  lock.unlock();
  impl.savepoint.finalize();
  impl.release.finalize();
  impl.writer.close();
  impl.closed = true;
  impl.healthy = false;
}

const Histogram& Database::commit_duration() const { return impl_->commit_duration; }

DatabaseStats Database::stats() const {
  DatabaseStats s;
  s.transactions_committed = impl_->transactions_committed;
  s.jobs_committed = impl_->jobs_committed;
  s.jobs_failed = impl_->jobs_failed;
  s.transactions_failed = impl_->transactions_failed;
  s.queue_depth = impl_->queue_depth;
  return s;
}

const std::filesystem::path& Database::path() const { return impl_->config.path; }

}  // namespace sp::sqlite
