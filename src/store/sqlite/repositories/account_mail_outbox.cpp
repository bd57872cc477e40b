#include "store/sqlite/repositories/account_mail_outbox.hpp"

#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using store::AccountMail;

class SqliteAccountMailOutbox final : public store::AccountMailOutbox {
 public:
  explicit SqliteAccountMailOutbox(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::int64_t> enqueue(const AccountMail& m) override {
    std::int64_t id = 0;
    auto r = db_->write([&](Connection& conn) -> Result<void> {
      auto done = conn.execute(
          "INSERT INTO account_mail_outbox (kind, email, request_id, created_at, next_attempt_at) "
          "VALUES (?1, ?2, ?3, ?4, ?4)",
          m.kind, m.email, m.request_id, m.created_at);
      if (!done) return done;
      id = conn.last_insert_rowid();
      return {};
    });
    if (!r) return forward(r);
    return id;
  }

  Result<std::vector<AccountMail>> due(std::int64_t now, int limit) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<AccountMail>> {
      auto s = conn.prepare(
          "SELECT id, kind, email, request_id, created_at, attempts, next_attempt_at "
          "FROM account_mail_outbox WHERE next_attempt_at <= ?1 "
          "ORDER BY next_attempt_at, id LIMIT ?2");
      if (!s) return forward(s);
      s->bind_all(now, limit);
      std::vector<AccountMail> out;
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) return out;
        out.push_back(AccountMail{s->column<std::int64_t>(0), s->column<std::string>(1),
                                  s->column<std::string>(2), s->column<std::string>(3),
                                  s->column<std::int64_t>(4), s->column<int>(5),
                                  s->column<std::int64_t>(6)});
      }
    });
  }

  Result<void> remove(std::int64_t id) override {
    return db_->write([id](Connection& conn) {
      return conn.execute("DELETE FROM account_mail_outbox WHERE id = ?1", id);
    });
  }

  Result<void> retry_at(std::int64_t id, std::int64_t next_attempt_at) override {
    return db_->write([id, next_attempt_at](Connection& conn) {
      return conn.execute(
          "UPDATE account_mail_outbox SET attempts = attempts + 1, next_attempt_at = ?2 "
          "WHERE id = ?1",
          id, next_attempt_at);
    });
  }

  Result<std::optional<std::int64_t>> next_due() override {
    return db_->read([](Connection& conn) {
      return conn.query_value<std::int64_t>(
          "SELECT next_attempt_at FROM account_mail_outbox ORDER BY next_attempt_at LIMIT 1");
    });
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::AccountMailOutbox> make_account_mail_outbox(
    std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteAccountMailOutbox>(std::move(main_db));
}

}  // namespace sp::sqlite
