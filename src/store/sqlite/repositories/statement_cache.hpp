#pragma once
#include <optional>
#include <string>

#include "store/sqlite/connection.hpp"

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

}  // namespace sp::sqlite
