#include "smartproduct/store/user_repository.hpp"

#include "smartproduct/store/account_repository.hpp"
#include "store/sqlite/repositories/maintenance.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"
#include "store/sqlite/repositories/statement_cache.hpp"

namespace sp::sqlite {
namespace {

using identity::AuditEntry;
using identity::CodePurpose;
using identity::LoginFailures;
using identity::OneTimeCode;
using identity::RefreshTokenRecord;
using identity::Role;
using identity::User;

constexpr const char* kUserColumns =
    "id, email, password_hash, role, enabled, email_verified, created_at, updated_at, name, phone, "
    "token_generation";

User read_user(const Statement& s) {
  User u;
  u.id = s.column<std::string>(0);
  u.email = s.column<std::string>(1);
  u.password_hash = s.column<std::string>(2);
  u.role = identity::parse_role(s.column<std::string>(3)).value_or(Role::kUser);
  u.enabled = s.column<bool>(4);
  u.email_verified = s.column<bool>(5);
  u.created_at = s.column<std::int64_t>(6);
  u.updated_at = s.column<std::int64_t>(7);
  u.token_generation = s.column<std::int64_t>(10);
  return u;
}

store::UserWithProfile read_user_with_profile(const Statement& s) {
  return store::UserWithProfile{
      read_user(s), store::UserProfile{s.column<std::string>(8), s.column<std::string>(9)}};
}

std::string purpose_text(CodePurpose p) { return std::string(identity::code_purpose_name(p)); }

class SqliteUserRepository final : public store::UserRepository, public store::AccountRepository {
 public:
  explicit SqliteUserRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  // ---- users ----
  Result<void> insert_user(const User& u) override {
    auto r = db_->write([u](Connection& conn) -> Result<void> {
      return conn.execute(
          "INSERT INTO users (id, email, password_hash, role, enabled, email_verified, created_at, "
          "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
          u.id, u.email, u.password_hash, std::string(identity::role_name(u.role)),
          static_cast<int>(u.enabled), static_cast<int>(u.email_verified), u.created_at,
          u.updated_at);
    });
    if (!r && is_constraint_violation(r.error())) {
      return fail(ErrorKind::kConflict, "UserAlreadyExists", "An account with this email exists.",
                  r.error().detail);
    }
    return r;
  }

  Result<void> update_user(const User& u) override {
    bool found = false;
    auto r = db_->write([u, &found](Connection& conn) -> Result<void> {
      auto e = conn.execute(
          "UPDATE users SET email = ?2, password_hash = ?3, role = ?4, enabled = ?5, "
          "email_verified = ?6, created_at = ?7, updated_at = ?8 WHERE id = ?1",
          u.id, u.email, u.password_hash, std::string(identity::role_name(u.role)),
          static_cast<int>(u.enabled), static_cast<int>(u.email_verified), u.created_at,
          u.updated_at);
      if (!e) return e;
      found = conn.changes() > 0;
      return {};
    });
    if (!r) {
      if (is_constraint_violation(r.error())) {
        return fail(ErrorKind::kConflict, "UserAlreadyExists", "An account with this email exists.",
                    r.error().detail);
      }
      return r;
    }
    if (!found) return fail(ErrorKind::kNotFound, "UserNotFound", "No such user.");
    return {};
  }

  Result<std::int64_t> advance_token_generation(std::string_view user_id) override {
    std::optional<std::int64_t> generation;
    auto r = db_->write([id = std::string(user_id), &generation](Connection& conn) -> Result<void> {
      auto s = conn.prepare(
          "UPDATE users SET token_generation = token_generation + 1 WHERE id = ?1 "
          "RETURNING token_generation");
      if (!s) return forward(s);
      s->bind_all(id);
      auto row = s->step();
      if (!row) return forward(row);
      if (*row) generation = s->column<std::int64_t>(0);
      return {};
    });
    if (!r) return forward(r);
    if (!generation) return fail(ErrorKind::kNotFound, "UserNotFound", "No such user.");
    return *generation;
  }

  Result<std::optional<User>> find_user_by_id(std::string_view id) override {
    auto r = find_user_with_profile(id);
    if (!r) return forward(r);
    if (!*r) return std::optional<User>{};
    return std::optional<User>((*r)->user);
  }

  Result<std::optional<User>> find_user_by_email(std::string_view email) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<User>> {
      auto s = conn.prepare(std::string("SELECT ") + kUserColumns +
                            " FROM users WHERE email = ?1 COLLATE NOCASE");
      if (!s) return forward(s);
      s->bind_all(email);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<User>{};
      return std::optional<User>(read_user(*s));
    });
  }

  // ---- one-time codes ----
  Result<void> put_code(const OneTimeCode& c) override {
    return db_->write([c](Connection& conn) -> Result<void> {
      return conn.execute(
          "INSERT INTO one_time_codes (user_id, purpose, code_hash, expires_at, attempts) "
          "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id, purpose) DO UPDATE SET "
          "code_hash = excluded.code_hash, expires_at = excluded.expires_at, "
          "attempts = excluded.attempts",
          c.user_id, purpose_text(c.purpose), c.code_hash, c.expires_at, c.attempts);
    });
  }

  Result<std::optional<OneTimeCode>> find_code(std::string_view user_id,
                                               CodePurpose purpose) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<OneTimeCode>> {
      auto s = conn.prepare(
          "SELECT code_hash, expires_at, attempts FROM one_time_codes "
          "WHERE user_id = ?1 AND purpose = ?2");
      if (!s) return forward(s);
      s->bind_all(user_id, purpose_text(purpose));
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<OneTimeCode>{};
      return std::optional<OneTimeCode>(OneTimeCode{std::string(user_id), purpose,
                                                    s->column<std::string>(0),
                                                    s->column<std::int64_t>(1), s->column<int>(2)});
    });
  }

  Result<std::optional<OneTimeCode>> add_code_attempt(std::string_view user_id,
                                                      CodePurpose purpose) override {
    std::optional<OneTimeCode> code;
    auto r = db_->write([id = std::string(user_id), purpose,
                         &code](Connection& conn) -> Result<void> {
      // Increment and read in one statement inside the single writer: two concurrent submissions
      // can never both see the same count.
      auto s = conn.prepare(
          "UPDATE one_time_codes SET attempts = attempts + 1 WHERE user_id = ?1 AND purpose = ?2 "
          "RETURNING code_hash, expires_at, attempts");
      if (!s) return forward(s);
      s->bind_all(id, purpose_text(purpose));
      auto row = s->step();
      if (!row) return forward(row);
      if (*row) {
        code = OneTimeCode{id, purpose, s->column<std::string>(0), s->column<std::int64_t>(1),
                           s->column<int>(2)};
      }
      return {};
    });
    if (!r) return forward(r);
    return code;
  }

  Result<void> delete_code(std::string_view user_id, CodePurpose purpose) override {
    return db_->write([id = std::string(user_id), p = purpose_text(purpose)](Connection& conn) {
      return conn.execute("DELETE FROM one_time_codes WHERE user_id = ?1 AND purpose = ?2", id, p);
    });
  }

  Result<int> delete_user_codes(std::string_view user_id) override {
    int deleted = 0;
    auto r = db_->write([id = std::string(user_id), &deleted](Connection& conn) -> Result<void> {
      auto e = conn.execute("DELETE FROM one_time_codes WHERE user_id = ?1", id);
      if (e) deleted = static_cast<int>(conn.changes());
      return e;
    });
    if (!r) return forward(r);
    return deleted;
  }

  // ---- refresh tokens ----
  Result<void> insert_refresh_token(const RefreshTokenRecord& t) override {
    return db_->write([t, this](Connection& conn) -> Result<void> {
      // Expired rows are useless (refresh() refuses them); pruning here keeps the table bounded
      // without a separate timer.
      auto prune = prune_.get(conn);
      if (!prune) return forward(prune);
      (*prune)->bind_all(t.issued_at);
      if (auto r = (*prune)->run(); !r) return r;
      return conn.execute(
          "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at, "
          "used_at, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
          t.token_hash, t.family_id, t.user_id, t.issued_at, t.expires_at, t.used_at,
          static_cast<int>(t.revoked));
    });
  }

  Result<std::optional<RefreshTokenRecord>> find_refresh_token(
      std::string_view token_hash) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<RefreshTokenRecord>> {
      auto s = conn.prepare(
          "SELECT token_hash, family_id, user_id, issued_at, expires_at, used_at, revoked "
          "FROM refresh_tokens WHERE token_hash = ?1");
      if (!s) return forward(s);
      s->bind_all(token_hash);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<RefreshTokenRecord>{};
      RefreshTokenRecord t;
      t.token_hash = s->column<std::string>(0);
      t.family_id = s->column<std::string>(1);
      t.user_id = s->column<std::string>(2);
      t.issued_at = s->column<std::int64_t>(3);
      t.expires_at = s->column<std::int64_t>(4);
      t.used_at = s->column<std::optional<std::int64_t>>(5);
      t.revoked = s->column<bool>(6);
      return std::optional<RefreshTokenRecord>(std::move(t));
    });
  }

  Result<bool> mark_refresh_token_used(std::string_view token_hash, std::int64_t at) override {
    bool marked = false;
    auto r = db_->write([h = std::string(token_hash), at, &marked](Connection& conn) {
      // The single writer serialises this compare-and-set: of two concurrent refreshes with the
      // same token exactly one sees changes() == 1.
      auto e = conn.execute(
          "UPDATE refresh_tokens SET used_at = ?2 "
          "WHERE token_hash = ?1 AND used_at IS NULL AND revoked = 0",
          h, at);
      if (e) marked = conn.changes() == 1;
      return e;
    });
    if (!r) return forward(r);
    return marked;
  }

  Result<void> revoke_refresh_family(std::string_view family_id) override {
    return db_->write([f = std::string(family_id)](Connection& conn) {
      return conn.execute("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?1", f);
    });
  }

  Result<void> revoke_user_refresh_tokens(std::string_view user_id) override {
    return db_->write([u = std::string(user_id)](Connection& conn) {
      return conn.execute("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?1", u);
    });
  }

  // ---- failed logins ----
  Result<LoginFailures> login_failures(std::string_view key) override {
    return db_->read([&](Connection& conn) -> Result<LoginFailures> {
      auto s = conn.prepare("SELECT count, window_start FROM login_failures WHERE key = ?1");
      if (!s) return forward(s);
      s->bind_all(key);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return LoginFailures{};
      return LoginFailures{s->column<int>(0), s->column<std::int64_t>(1)};
    });
  }

  Result<void> set_login_failures(std::string_view key, const LoginFailures& v) override {
    return db_->write([k = std::string(key), v](Connection& conn) {
      return conn.execute(
          "INSERT INTO login_failures (key, count, window_start) VALUES (?1, ?2, ?3) "
          "ON CONFLICT (key) DO UPDATE SET count = excluded.count, "
          "window_start = excluded.window_start",
          k, v.count, v.window_start);
    });
  }

  Result<void> clear_login_failures(std::string_view key) override {
    return db_->write([k = std::string(key)](Connection& conn) {
      return conn.execute("DELETE FROM login_failures WHERE key = ?1", k);
    });
  }

  Result<LoginFailures> bump_counter(std::string_view key, std::int64_t now,
                                     std::int64_t window_s) override {
    LoginFailures out;
    auto r =
        db_->write([k = std::string(key), now, window_s, &out](Connection& conn) -> Result<void> {
          // The SET expressions all read the row as it was, so both CASEs agree on a restart.
          auto s = conn.prepare(
              "INSERT INTO login_failures (key, count, window_start) VALUES (?1, 1, ?2) "
              "ON CONFLICT (key) DO UPDATE SET "
              "count = CASE WHEN ?2 - window_start >= ?3 THEN 1 ELSE count + 1 END, "
              "window_start = CASE WHEN ?2 - window_start >= ?3 THEN ?2 ELSE window_start END "
              "RETURNING count, window_start");
          if (!s) return forward(s);
          s->bind_all(k, now, window_s);
          auto row = s->step();
          if (!row) return forward(row);
          if (!*row) return fail(ErrorKind::kInternal, "InternalError", "upsert returned no row");
          out = LoginFailures{s->column<int>(0), s->column<std::int64_t>(1)};
          return {};
        });
    if (!r) return forward(r);
    return out;
  }

  // ---- audit ----
  Result<void> append_audit(const AuditEntry& e) override {
    return db_->write([e](Connection& conn) {
      return conn.execute(
          "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
          e.at, e.actor, e.action, e.target, e.detail);
    });
  }

  // ---- AccountRepository ----
  Result<void> set_profile(std::string_view user_id, const store::UserProfile& p) override {
    bool found = false;
    auto r = db_->write([id = std::string(user_id), p, &found](Connection& conn) -> Result<void> {
      auto e =
          conn.execute("UPDATE users SET name = ?2, phone = ?3 WHERE id = ?1", id, p.name, p.phone);
      if (e) found = conn.changes() > 0;
      return e;
    });
    if (!r) return r;
    if (!found) return fail(ErrorKind::kNotFound, "UserNotFound", "No such user.");
    return {};
  }

  Result<std::optional<store::UserWithProfile>> find_user_with_profile(
      std::string_view id) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<store::UserWithProfile>> {
      auto s = conn.prepare(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?1");
      if (!s) return forward(s);
      s->bind_all(id);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<store::UserWithProfile>{};
      return std::optional<store::UserWithProfile>(read_user_with_profile(*s));
    });
  }

  Result<store::UserPage> list_users(int limit,
                                     const std::optional<store::UserCursor>& after) override {
    return db_->read([&](Connection& conn) -> Result<store::UserPage> {
      // One extra row tells whether another page exists.
      auto s = conn.prepare(std::string("SELECT ") + kUserColumns +
                            " FROM users WHERE ?1 IS NULL OR (created_at, id) > (?1, ?2) "
                            "ORDER BY created_at, id LIMIT ?3");
      if (!s) return forward(s);
      if (after) {
        s->bind_all(after->created_at, after->id, limit + 1);
      } else {
        s->bind_all(std::nullopt, std::nullopt, limit + 1);
      }
      store::UserPage page;
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        page.items.push_back(read_user_with_profile(*s));
      }
      if (static_cast<int>(page.items.size()) > limit) {
        page.items.pop_back();
        const auto& last = page.items.back().user;
        page.next = store::UserCursor{last.created_at, last.id};
      }
      return page;
    });
  }

  Result<bool> delete_user(std::string_view id) override {
    bool found = false;
    auto r = db_->write([id = std::string(id), &found](Connection& conn) -> Result<void> {
      // Codes and refresh tokens go by ON DELETE CASCADE; the settings row is keyed by the id.
      auto e = conn.execute("DELETE FROM users WHERE id = ?1", id);
      if (!e) return e;
      found = conn.changes() > 0;
      if (!found) return {};
      return conn.execute("DELETE FROM settings WHERE setting_id = ?1", id);
    });
    if (!r) return forward(r);
    return found;
  }

  Result<store::AuditPage> list_audit(int limit, std::optional<std::int64_t> before_id) override {
    return db_->read([&](Connection& conn) -> Result<store::AuditPage> {
      auto s = conn.prepare(
          "SELECT a.id, a.at, a.actor, a.action, a.target, a.detail, coalesce(u.email, '') "
          "FROM audit_log a LEFT JOIN users u ON u.id = a.actor "
          "WHERE ?1 IS NULL OR a.id < ?1 ORDER BY a.id DESC LIMIT ?2");
      if (!s) return forward(s);
      s->bind_all(before_id, limit + 1);
      store::AuditPage page;
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        store::AuditRecord rec;
        rec.id = s->column<std::int64_t>(0);
        rec.entry = AuditEntry{s->column<std::int64_t>(1), s->column<std::string>(2),
                               s->column<std::string>(3), s->column<std::string>(4),
                               s->column<std::string>(5)};
        rec.actor_email = s->column<std::string>(6);
        page.items.push_back(std::move(rec));
      }
      if (static_cast<int>(page.items.size()) > limit) {
        page.items.pop_back();
        page.next = page.items.back().id;
      }
      return page;
    });
  }

 private:
  std::shared_ptr<Database> db_;
  CachedStatement prune_{"DELETE FROM refresh_tokens WHERE expires_at <= ?1"};
};

}  // namespace

UserStore make_user_repository(std::shared_ptr<Database> main_db) {
  auto repo = std::make_shared<SqliteUserRepository>(std::move(main_db));
  return UserStore{repo, repo};
}

Result<std::vector<std::string>> admin_user_ids(const std::shared_ptr<Database>& main_db) {
  return main_db->read([](Connection& conn) -> Result<std::vector<std::string>> {
    auto stmt =
        conn.prepare("SELECT id FROM users WHERE role = 'admin' AND enabled = 1 ORDER BY id");
    if (!stmt) return tl::unexpected(stmt.error());
    std::vector<std::string> out;
    for (;;) {
      auto row = stmt->step();
      if (!row) return tl::unexpected(row.error());
      if (!*row) break;
      out.push_back(stmt->column<std::string>(0));
    }
    return out;
  });
}

}  // namespace sp::sqlite
