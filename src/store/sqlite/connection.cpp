#include "store/sqlite/connection.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_map>

#include "store/sqlite/sqlite_error.hpp"

namespace sp::sqlite {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// sqlite3_open_v2 only says "unable to open database file"; find the likely cause ourselves so that
// an operator sees which directory is missing or read-only.
std::string diagnose_open_failure(const std::filesystem::path& file, bool create) {
  std::error_code ec;
  const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::exists(dir, ec)) return "directory " + dir.string() + " does not exist";
  if (!std::filesystem::is_directory(dir, ec)) return dir.string() + " is not a directory";
  const bool file_exists = std::filesystem::exists(file, ec);
  if (!file_exists && !create) return "file does not exist";
  if (::access(dir.c_str(), W_OK) != 0) {
    return "directory " + dir.string() + " is not writable (" + std::strerror(errno) + ")";
  }
  if (file_exists && ::access(file.c_str(), R_OK | W_OK) != 0) {
    return std::string("file is not readable and writable (") + std::strerror(errno) + ")";
  }
  return {};
}

tl::unexpected<Error> open_error(const std::filesystem::path& file, std::string reason) {
  std::string message = "cannot open database " + file.string() + ": " + reason;
  return fail(ErrorKind::kUnavailable, std::string(kErrorOpen), message, message);
}

// SQLite creates the database with 0644 by default and gives -wal/-shm the mode of the main file;
// creating the main file ourselves with 0600 keeps every file of the database private.
Result<void> create_private_file(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return {};
    return open_error(file, std::strerror(errno));
  }
  ::close(fd);
  return {};
}

}  // namespace

Error make_error(sqlite3* db, int rc, std::string_view what) {
  const int primary = rc & 0xff;
  std::string detail(what);
  detail += ": ";
  detail += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  detail += " (code " + std::to_string(rc) + ")";
  if (db != nullptr) {
    if (const char* file = sqlite3_db_filename(db, "main"); file != nullptr && *file != '\0') {
      detail += " [";
      detail += file;
      detail += "]";
    }
  }
  switch (primary) {
    case SQLITE_CONSTRAINT:
      return Error{ErrorKind::kConflict, std::string(kErrorConstraint),
                   "The change conflicts with existing data.", detail};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error{ErrorKind::kUnavailable, std::string(kErrorBusy), "The database is busy.",
                   detail};
    case SQLITE_FULL:  // the file system (or max_page_count) is full; the transaction rolls back
      return Error{ErrorKind::kUnavailable, "DatabaseFull", "The disk is full.", detail};
    default:
      return Error{ErrorKind::kInternal, std::string(kErrorDatabase), "A storage error occurred.",
                   detail};
  }
}

Result<Synchronous> parse_synchronous(std::string_view text) {
  const std::string value = lower(text);
  if (value == "off") return Synchronous::kOff;
  if (value == "normal") return Synchronous::kNormal;
  if (value == "full") return Synchronous::kFull;
  if (value == "extra") return Synchronous::kExtra;
  return fail(ErrorKind::kUnprocessable, "InvalidSynchronous",
              "synchronous must be one of off, normal, full, extra");
}

bool is_constraint_violation(const Error& error) { return error.name == kErrorConstraint; }

// ---------------------------------------------------------------------------------------------
// Statement

// Idle prepared statements of one connection, keyed by their SQL text. Compiling a statement costs
// far more than running a primary-key lookup, and read() callbacks prepare their SQL on every call.
// A statement is handed out to one Statement at a time; a second concurrent user of the same text
// gets a fresh one (finalized, not pooled, when the slot is taken on its return). The mutex only
// matters when a Statement outlives its connection's thread (e.g. a repository member destroyed
// after close()): the connection itself is used by one thread at a time.
class StatementPool {
 public:
  static constexpr std::size_t kMaxIdle = 64;

  sqlite3_stmt* take(std::string_view sql) {
    std::lock_guard lock(mu_);
    auto it = idle_.find(sql);
    if (it == idle_.end()) return nullptr;
    sqlite3_stmt* stmt = it->second;
    idle_.erase(it);
    return stmt;
  }

  void give_back(sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    std::unique_lock lock(mu_);
    if (closed_) {
      lock.unlock();
      sqlite3_finalize(stmt);
      return;
    }
    const std::string_view sql = sqlite3_sql(stmt);
    if (idle_.contains(sql)) {
      lock.unlock();
      sqlite3_finalize(stmt);
      return;
    }
    sqlite3_stmt* evicted = nullptr;
    if (idle_.size() >= kMaxIdle) {
      evicted = idle_.begin()->second;
      idle_.erase(idle_.begin());
    }
    idle_.emplace(std::string(sql), stmt);
    lock.unlock();
    if (evicted) sqlite3_finalize(evicted);
  }

  // Before the connection closes: finalizes the idle statements; later returns are finalized.
  void close() {
    std::unordered_map<std::string, sqlite3_stmt*, Hash, std::equal_to<>> idle;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      idle.swap(idle_);
    }
    for (auto& [sql, stmt] : idle) sqlite3_finalize(stmt);
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::mutex mu_;
  bool closed_ = false;
  std::unordered_map<std::string, sqlite3_stmt*, Hash, std::equal_to<>> idle_;
};

void Statement::Finalizer::operator()(sqlite3_stmt* stmt) const {
  if (pool) {
    pool->give_back(stmt);
  } else {
    sqlite3_finalize(stmt);
  }
}

Statement& Statement::check_bind(int rc, int index) {
  if (rc != SQLITE_OK && !bind_error_) {
    bind_error_ = make_error(db_, rc, "bind parameter " + std::to_string(index) + " of " + sql());
  }
  return *this;
}

int Statement::parameter_index(std::string_view name) {
  const std::string key(name);
  const int index = stmt_ ? sqlite3_bind_parameter_index(stmt_.get(), key.c_str()) : 0;
  if (index == 0 && !bind_error_) {
    bind_error_ =
        Error{ErrorKind::kInternal, std::string(kErrorDatabase), "A storage error occurred.",
              "unknown SQL parameter " + key + " in " + sql()};
  }
  return index;
}

Statement& Statement::bind_int64(int index, std::int64_t value) {
  if (index == 0) return *this;  // unknown name, already recorded
  return check_bind(sqlite3_bind_int64(stmt_.get(), index, value), index);
}

Statement& Statement::bind_double(int index, double value) {
  if (index == 0) return *this;
  return check_bind(sqlite3_bind_double(stmt_.get(), index, value), index);
}

Statement& Statement::bind_text(int index, std::string_view text) {
  if (index == 0) return *this;
  return check_bind(sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(),
                                        SQLITE_TRANSIENT, SQLITE_UTF8),
                    index);
}

Statement& Statement::bind_blob(int index, std::span<const std::byte> blob) {
  if (index == 0) return *this;
  // A zero-length blob must still be a blob, not NULL: sqlite3_bind_blob64 with a null pointer
  // binds NULL, so use zeroblob for the empty case.
  if (blob.empty()) return check_bind(sqlite3_bind_zeroblob(stmt_.get(), index, 0), index);
  return check_bind(
      sqlite3_bind_blob64(stmt_.get(), index, blob.data(), blob.size(), SQLITE_TRANSIENT), index);
}

Statement& Statement::bind_null(int index) {
  if (index == 0) return *this;
  return check_bind(sqlite3_bind_null(stmt_.get(), index), index);
}

Result<bool> Statement::step() {
  if (!stmt_) {
    return fail(ErrorKind::kInternal, std::string(kErrorDatabase), "A storage error occurred.",
                "step on an empty statement");
  }
  if (bind_error_) return tl::unexpected(*bind_error_);
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return tl::unexpected(make_error(db_, rc, "step " + sql()));
}

Result<void> Statement::run() {
  for (;;) {
    auto row = step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return {};
  }
}

Statement& Statement::reset() {
  if (stmt_) {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }
  bind_error_.reset();
  return *this;
}

int Statement::column_count() const { return sqlite3_column_count(stmt_.get()); }

Statement::ColumnType Statement::column_type(int column) const {
  switch (sqlite3_column_type(stmt_.get(), column)) {
    case SQLITE_INTEGER:
      return ColumnType::kInteger;
    case SQLITE_FLOAT:
      return ColumnType::kFloat;
    case SQLITE_TEXT:
      return ColumnType::kText;
    case SQLITE_BLOB:
      return ColumnType::kBlob;
    default:
      return ColumnType::kNull;
  }
}

bool Statement::column_is_null(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(stmt_.get(), column);
}

double Statement::column_double(int column) const {
  return sqlite3_column_double(stmt_.get(), column);
}

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(stmt_.get(), column);
  const int size = sqlite3_column_bytes(stmt_.get(), column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

std::vector<std::byte> Statement::column_blob(int column) const {
  const auto* data = static_cast<const std::byte*>(sqlite3_column_blob(stmt_.get(), column));
  const int size = sqlite3_column_bytes(stmt_.get(), column);
  if (data == nullptr || size <= 0) return {};
  return std::vector<std::byte>(data, data + size);
}

std::string Statement::sql() const {
  if (!stmt_) return {};
  const char* text = sqlite3_sql(stmt_.get());
  return text ? text : "";
}

// ---------------------------------------------------------------------------------------------
// Connection

Result<Connection> Connection::open(const std::filesystem::path& file,
                                    const ConnectionOptions& options) {
  if (file.empty()) return open_error(file, "empty path");
  const bool in_memory = file == ":memory:";
  if (auto reason = in_memory ? std::string() : diagnose_open_failure(file, options.create);
      !reason.empty()) {
    return open_error(file, reason);
  }
  if (options.create && !in_memory) {
    if (auto created = create_private_file(file); !created) return tl::unexpected(created.error());
  }

  sqlite3* raw = nullptr;
  // NOMUTEX: each connection is used by one thread at a time (the writer or a leased reader), so
  // SQLite's per-connection mutex would be pure overhead. EXRESCODE: extended codes in errors.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, flags, nullptr);
  Connection conn(raw, file);
  if (rc != SQLITE_OK) {
    return open_error(file, raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, std::max(0, options.busy_timeout_ms));

  // The first statement reads the header: this is where "file is not a database" shows up.
  auto mode = conn.query_value<std::string>("PRAGMA journal_mode=WAL");
  if (!mode) return open_error(file, sqlite3_errmsg(raw));
  if (!*mode || lower(**mode) != (in_memory ? "memory" : "wal")) {
    return open_error(file, "could not enable WAL journal mode (got " + mode->value_or("?") + ")");
  }
  // journal_size_limit: after a burst the WAL is truncated back to at most 64 MiB at checkpoints
  // instead of keeping its peak size forever.
  std::string pragmas =
      "PRAGMA foreign_keys=ON; PRAGMA journal_size_limit=67108864; "
      "PRAGMA synchronous=" +
      std::to_string(static_cast<int>(options.synchronous)) + ";";
  if (options.query_only) pragmas += " PRAGMA query_only=ON;";
  if (auto set = conn.exec(pragmas); !set) return open_error(file, set.error().detail);
  return conn;
}

Connection::Connection(sqlite3* db, std::filesystem::path path)
    : db_(db), path_(std::move(path)), statements_(std::make_shared<StatementPool>()) {}

Connection::Connection(Connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      statements_(std::move(other.statements_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close_handle();
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    statements_ = std::move(other.statements_);
  }
  return *this;
}

Connection::~Connection() { close_handle(); }

void Connection::close() { close_handle(); }

void Connection::close_handle() {
  if (statements_) statements_->close();
  // close_v2 defers the close until outstanding statements are finalized instead of failing.
  if (db_) sqlite3_close_v2(std::exchange(db_, nullptr));
}

Result<void> Connection::exec(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (message) sqlite3_free(message);
  if (rc != SQLITE_OK) return tl::unexpected(make_error(db_, rc, "exec"));
  return {};
}

Result<Statement> Connection::prepare(std::string_view sql) {
  if (statements_) {
    if (sqlite3_stmt* cached = statements_->take(sql)) return Statement(cached, db_, statements_);
  }
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &raw, &tail);
  // Pooled only when SQLite keeps the text exactly as given (the pool's key on return).
  const bool poolable = raw != nullptr && statements_ && std::string_view(sqlite3_sql(raw)) == sql;
  Statement stmt(raw, db_, poolable ? statements_ : nullptr);
  if (rc != SQLITE_OK) {
    return tl::unexpected(make_error(db_, rc, "prepare " + std::string(sql)));
  }
  if (raw == nullptr) {
    return fail(ErrorKind::kInternal, std::string(kErrorDatabase), "A storage error occurred.",
                "prepare: no SQL statement in: " + std::string(sql));
  }
  // More than one statement would silently drop the rest; refuse so the mistake surfaces in tests.
  if (tail != nullptr) {
    const std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
    sqlite3_stmt* extra = nullptr;
    const int rc2 =
        sqlite3_prepare_v3(db_, rest.data(), static_cast<int>(rest.size()), 0, &extra, nullptr);
    if (extra != nullptr) sqlite3_finalize(extra);
    if (rc2 != SQLITE_OK || extra != nullptr) {
      return fail(ErrorKind::kInternal, std::string(kErrorDatabase), "A storage error occurred.",
                  "prepare: more than one SQL statement in: " + std::string(sql));
    }
  }
  return stmt;
}

std::int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

}  // namespace sp::sqlite
