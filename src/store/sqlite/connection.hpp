#pragma once
// RAII wrappers over one SQLite connection and its prepared statements. This header does not
// include the SQLite C header (only src/store/sqlite/*.cpp may), so repositories and tests can use
// it.
//
// A Connection is not thread-safe: use it from one thread at a time. Database hands out connections
// (the writer's inside write jobs, a pooled reader's inside read()) with that guarantee.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "smartproduct/core/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace sp::sqlite {

class StatementPool;

/// PRAGMA synchronous level. In WAL mode kFull syncs the WAL on every commit, so a committed
/// transaction survives power loss; kNormal survives a process crash but may lose the last
/// transactions on power loss.
enum class Synchronous { kOff = 0, kNormal = 1, kFull = 2, kExtra = 3 };

/// Parses "off", "normal", "full" or "extra" (case-insensitive), e.g. from the config file.
Result<Synchronous> parse_synchronous(std::string_view text);

/// Stable error names produced by this layer (Error::name).
inline constexpr std::string_view kErrorDatabase = "DatabaseError";
inline constexpr std::string_view kErrorConstraint = "DatabaseConstraint";  // kConflict
inline constexpr std::string_view kErrorBusy = "DatabaseBusy";              // kUnavailable
inline constexpr std::string_view kErrorOpen = "DatabaseOpenFailed";        // kUnavailable

/// True when `error` came from a violated UNIQUE/PRIMARY KEY/CHECK/FOREIGN KEY/NOT NULL constraint.
bool is_constraint_violation(const Error& error);

struct ConnectionOptions {
  /// How long a statement waits for a lock held by another connection before failing with busy.
  int busy_timeout_ms = 5000;
  Synchronous synchronous = Synchronous::kFull;
  /// Sets PRAGMA query_only=ON: every statement that would modify the database fails.
  bool query_only = false;
  /// Create the file if it does not exist (with mode 0600). Otherwise a missing file is an error.
  bool create = true;
};

/// A prepared statement. Bind errors (unknown parameter name, index out of range) are remembered
/// and returned by the next step()/run(), so binds can be chained:
///   stmt.bind(1, id).bind(":name", name); auto r = stmt.run();
/// Parameter indexes start at 1, column indexes at 0 (as in SQLite).
class Statement {
 public:
  Statement() = default;
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() = default;

  template <std::integral T>
  Statement& bind(int index, T value) {
    return bind_int64(index, static_cast<std::int64_t>(value));
  }
  template <std::floating_point T>
  Statement& bind(int index, T value) {
    return bind_double(index, static_cast<double>(value));
  }
  Statement& bind(int index, std::string_view text) { return bind_text(index, text); }
  Statement& bind(int index, const std::string& text) { return bind_text(index, text); }
  Statement& bind(int index, const char* text) { return bind_text(index, text); }
  Statement& bind(int index, std::span<const std::byte> blob) { return bind_blob(index, blob); }
  Statement& bind(int index, const std::vector<std::byte>& blob) { return bind_blob(index, blob); }
  Statement& bind(int index, std::nullopt_t) { return bind_null(index); }
  template <class T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind_null(index);
  }
  /// Binds by parameter name including its prefix, e.g. ":device_id".
  template <class T>
  Statement& bind(std::string_view name, const T& value) {
    return bind(parameter_index(name), value);
  }

  Statement& bind_int64(int index, std::int64_t value);
  Statement& bind_double(int index, double value);
  Statement& bind_text(int index, std::string_view text);
  Statement& bind_blob(int index, std::span<const std::byte> blob);
  Statement& bind_null(int index);

  /// Binds args to parameters 1..N in order.
  template <class... Args>
  Statement& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  /// Advances the statement: true when a row is available, false when done.
  Result<bool> step();
  /// Steps until done (for INSERT/UPDATE/DELETE/DDL); rows, if any, are skipped.
  Result<void> run();
  /// Resets the statement for re-execution and clears all bindings and a remembered bind error.
  Statement& reset();

  int column_count() const;
  enum class ColumnType { kInteger, kFloat, kText, kBlob, kNull };
  /// The storage class of the column's value in the current row.
  ColumnType column_type(int column) const;
  bool column_is_null(int column) const;
  std::int64_t column_int64(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  std::vector<std::byte> column_blob(int column) const;

  /// Typed column getter: std::int64_t, int, bool, double, std::string, std::vector<std::byte>, or
  /// std::optional of one of those (nullopt for SQL NULL).
  template <class T>
  T column(int column) const {
    if constexpr (is_optional<T>::value) {
      if (column_is_null(column)) return std::nullopt;
      return this->column<typename T::value_type>(column);
    } else if constexpr (std::is_same_v<T, bool>) {
      return column_int64(column) != 0;
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(column_int64(column));
    } else if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(column_double(column));
    } else if constexpr (std::is_same_v<T, std::string>) {
      return column_text(column);
    } else {
      static_assert(std::is_same_v<T, std::vector<std::byte>>, "unsupported column type");
      return column_blob(column);
    }
  }

  /// The SQL text the statement was prepared from.
  std::string sql() const;
  bool valid() const { return stmt_ != nullptr; }

 private:
  friend class Connection;
  template <class T>
  struct is_optional : std::false_type {};
  template <class T>
  struct is_optional<std::optional<T>> : std::true_type {};

  struct Finalizer {
    std::shared_ptr<StatementPool> pool;  // set: the statement goes back to its connection's pool
    void operator()(sqlite3_stmt* stmt) const;
  };
  Statement(sqlite3_stmt* stmt, sqlite3* db, std::shared_ptr<StatementPool> pool = nullptr)
      : stmt_(stmt, Finalizer{std::move(pool)}), db_(db) {}
  int parameter_index(std::string_view name);
  Statement& check_bind(int rc, int index);

  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  sqlite3* db_ = nullptr;
  std::optional<Error> bind_error_;
};

/// One open SQLite connection, configured at open: WAL journal, foreign keys on, busy timeout,
/// synchronous level, optional query_only.
class Connection {
 public:
  /// Opens (and, with options.create, creates) `file`. Errors name the file and say whether the
  /// directory is missing, not writable, or the file is not a SQLite database. ":memory:" opens a
  /// private in-memory database (journal mode "memory" instead of WAL), e.g. for repository tests.
  static Result<Connection> open(const std::filesystem::path& file,
                                 const ConnectionOptions& options = {});

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  /// Runs one or more SQL statements without parameters (schema scripts, pragmas). Never pass
  /// values from outside here: use prepare() + bind.
  Result<void> exec(std::string_view sql);
  /// Prepares exactly one statement (trailing text other than whitespace/comments is an error).
  /// A destroyed Statement is reset and kept by the connection (a few dozen distinct SQL texts),
  /// so preparing the same text again is a hash lookup, not a compilation.
  Result<Statement> prepare(std::string_view sql);

  /// prepare + bind_all + run.
  template <class... Args>
  Result<void> execute(std::string_view sql, const Args&... args) {
    auto stmt = prepare(sql);
    if (!stmt) return tl::unexpected(stmt.error());
    stmt->bind_all(args...);
    return stmt->run();
  }
  /// The first column of the first row as T, or nullopt when there is no row.
  template <class T, class... Args>
  Result<std::optional<T>> query_value(std::string_view sql, const Args&... args) {
    auto stmt = prepare(sql);
    if (!stmt) return tl::unexpected(stmt.error());
    stmt->bind_all(args...);
    auto row = stmt->step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return std::optional<T>{};
    return std::optional<T>{stmt->column<T>(0)};
  }

  /// Closes the connection now (the destructor does it otherwise). Further use is an error.
  void close();

  std::int64_t last_insert_rowid() const;
  /// Rows changed by the most recent INSERT/UPDATE/DELETE.
  std::int64_t changes() const;
  /// False in autocommit mode (no BEGIN/SAVEPOINT open).
  bool in_transaction() const;
  const std::filesystem::path& path() const { return path_; }
  /// The underlying handle, for code inside src/store/sqlite only.
  sqlite3* handle() const { return db_; }

 private:
  Connection(sqlite3* db, std::filesystem::path path);
  void close_handle();
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  std::shared_ptr<StatementPool> statements_;
};

}  // namespace sp::sqlite
