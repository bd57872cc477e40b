// The SQLite UserRepository/AccountRepository against a real database file with the embedded
// migrations: the contract of include/smartproduct/store/{user,account}_repository.hpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::sqlite {
namespace {

using identity::AuditEntry;
using identity::CodePurpose;
using identity::OneTimeCode;
using identity::RefreshTokenRecord;
using identity::Role;
using identity::User;

class UserRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseConfig config;
    config.path = dir_ / "smartproduct.db";
    config.migrations = embedded_migrations("main");
    auto db = Database::open(std::move(config));
    ASSERT_TRUE(db) << db.error().message << " " << db.error().detail;
    db_ = *db;
    store_ = make_user_repository(db_);
  }
  void TearDown() override {
    store_ = {};
    if (db_) db_->close();
  }

  static User user(std::string id, std::string email, std::int64_t created = 100) {
    return User{std::move(id), std::move(email), "$argon2id$fake", Role::kUser, true,
                false,         created,          created};
  }

  store::UserRepository& users() { return *store_.users; }
  store::AccountRepository& accounts() { return *store_.accounts; }

  test::TempDir dir_;
  std::shared_ptr<Database> db_;
  UserStore store_;
};

TEST_F(UserRepositoryTest, InsertFindAndCaseInsensitiveUniqueEmail) {
  ASSERT_TRUE(users().insert_user(user("u1", "alice@example.com")));
  auto by_email = users().find_user_by_email("ALICE@Example.COM");
  ASSERT_TRUE(by_email);
  ASSERT_TRUE(by_email->has_value());
  EXPECT_EQ((*by_email)->id, "u1");
  EXPECT_EQ((*by_email)->role, Role::kUser);
  EXPECT_FALSE((*by_email)->email_verified);

  auto dup = users().insert_user(user("u2", "Alice@example.com"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(dup.error().name, "UserAlreadyExists");
  auto dup_id = users().insert_user(user("u1", "bob@example.com"));
  ASSERT_FALSE(dup_id);
  EXPECT_EQ(dup_id.error().kind, ErrorKind::kConflict);

  auto missing = users().find_user_by_id("nope");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_F(UserRepositoryTest, UpdateReplacesFieldsAndReportsMissing) {
  ASSERT_TRUE(users().insert_user(user("u1", "a@example.com")));
  User u = user("u1", "a@example.com");
  u.role = Role::kAdmin;
  u.enabled = false;
  u.email_verified = true;
  u.password_hash = "$argon2id$new";
  u.updated_at = 200;
  ASSERT_TRUE(users().update_user(u));
  auto got = users().find_user_by_id("u1");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->role, Role::kAdmin);
  EXPECT_FALSE((*got)->enabled);
  EXPECT_TRUE((*got)->email_verified);
  EXPECT_EQ((*got)->password_hash, "$argon2id$new");
  EXPECT_EQ((*got)->updated_at, 200);

  auto missing = users().update_user(user("zz", "z@example.com"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
}

TEST_F(UserRepositoryTest, CodesAreUpsertedCountedAndDeleted) {
  ASSERT_TRUE(users().insert_user(user("u1", "a@example.com")));
  ASSERT_TRUE(users().put_code(OneTimeCode{"u1", CodePurpose::kVerifyEmail, "h1", 500, 0}));
  ASSERT_TRUE(users().add_code_attempt("u1", CodePurpose::kVerifyEmail));
  ASSERT_TRUE(users().add_code_attempt("u1", CodePurpose::kVerifyEmail));
  auto c = users().find_code("u1", CodePurpose::kVerifyEmail);
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->attempts, 2);
  EXPECT_EQ((*c)->code_hash, "h1");
  // The other purpose is independent.
  auto other = users().find_code("u1", CodePurpose::kResetPassword);
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->has_value());
  // A new code replaces the old one and resets the attempts.
  ASSERT_TRUE(users().put_code(OneTimeCode{"u1", CodePurpose::kVerifyEmail, "h2", 900, 0}));
  c = users().find_code("u1", CodePurpose::kVerifyEmail);
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->code_hash, "h2");
  EXPECT_EQ((*c)->attempts, 0);
  ASSERT_TRUE(users().delete_code("u1", CodePurpose::kVerifyEmail));
  c = users().find_code("u1", CodePurpose::kVerifyEmail);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->has_value());
}

TEST_F(UserRepositoryTest, RefreshTokenCompareAndSetAndRevocation) {
  ASSERT_TRUE(users().insert_user(user("u1", "a@example.com")));
  ASSERT_TRUE(users().insert_refresh_token(
      RefreshTokenRecord{"t1", "fam", "u1", 100, 10000, std::nullopt, false}));
  ASSERT_TRUE(users().insert_refresh_token(
      RefreshTokenRecord{"t2", "fam", "u1", 100, 10000, std::nullopt, false}));
  ASSERT_TRUE(users().insert_refresh_token(
      RefreshTokenRecord{"t3", "other", "u1", 100, 10000, std::nullopt, false}));

  auto first = users().mark_refresh_token_used("t1", 150);
  ASSERT_TRUE(first);
  EXPECT_TRUE(*first);
  auto second = users().mark_refresh_token_used("t1", 160);
  ASSERT_TRUE(second);
  EXPECT_FALSE(*second) << "a token can be marked used only once";
  auto t1 = users().find_refresh_token("t1");
  ASSERT_TRUE(t1 && *t1);
  EXPECT_EQ((*t1)->used_at, std::optional<std::int64_t>(150));

  ASSERT_TRUE(users().revoke_refresh_family("fam"));
  auto t2 = users().find_refresh_token("t2");
  ASSERT_TRUE(t2 && *t2);
  EXPECT_TRUE((*t2)->revoked);
  auto marked = users().mark_refresh_token_used("t2", 170);
  ASSERT_TRUE(marked);
  EXPECT_FALSE(*marked) << "revoked tokens cannot be used";
  auto t3 = users().find_refresh_token("t3");
  ASSERT_TRUE(t3 && *t3);
  EXPECT_FALSE((*t3)->revoked) << "other families are untouched";

  ASSERT_TRUE(users().revoke_user_refresh_tokens("u1"));
  t3 = users().find_refresh_token("t3");
  ASSERT_TRUE(t3 && *t3);
  EXPECT_TRUE((*t3)->revoked);
}

TEST_F(UserRepositoryTest, ExpiredRefreshTokensArePrunedOnInsert) {
  ASSERT_TRUE(users().insert_user(user("u1", "a@example.com")));
  ASSERT_TRUE(users().insert_refresh_token(
      RefreshTokenRecord{"old", "f1", "u1", 100, 200, std::nullopt, false}));
  ASSERT_TRUE(users().insert_refresh_token(
      RefreshTokenRecord{"new", "f2", "u1", 300, 5000, std::nullopt, false}));
  auto old = users().find_refresh_token("old");
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->has_value());
  auto fresh = users().find_refresh_token("new");
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(fresh->has_value());
}

TEST_F(UserRepositoryTest, LoginFailureCounters) {
  auto none = users().login_failures("account:a@example.com");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->count, 0);
  ASSERT_TRUE(users().set_login_failures("account:a@example.com", {3, 77}));
  auto got = users().login_failures("account:a@example.com");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->count, 3);
  EXPECT_EQ(got->window_start, 77);
  ASSERT_TRUE(users().clear_login_failures("account:a@example.com"));
  got = users().login_failures("account:a@example.com");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->count, 0);
}

TEST_F(UserRepositoryTest, AddCodeAttemptReturnsTheCountedCode) {
  ASSERT_TRUE(users().insert_user(user("u1", "a@example.com")));
  auto none = users().add_code_attempt("u1", CodePurpose::kResetPassword);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(users().put_code(OneTimeCode{"u1", CodePurpose::kResetPassword, "h1", 500, 0}));
  auto c = users().add_code_attempt("u1", CodePurpose::kResetPassword);
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->attempts, 1);
  EXPECT_EQ((*c)->code_hash, "h1");
  EXPECT_EQ((*c)->expires_at, 500);
  ASSERT_TRUE(users().put_code(OneTimeCode{"u1", CodePurpose::kVerifyEmail, "h2", 500, 0}));
  auto deleted = users().delete_user_codes("u1");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(*deleted, 2);
  EXPECT_EQ(*users().delete_user_codes("u1"), 0);
}

// Concurrent submissions must each see their own count (issue 10: a read-then-write counter let
// concurrent guesses all read the same stale value).
TEST_F(UserRepositoryTest, CountersAreAtomicUnderConcurrency) {
  ASSERT_TRUE(users().insert_user(user("u1", "a@example.com")));
  ASSERT_TRUE(users().put_code(OneTimeCode{"u1", CodePurpose::kResetPassword, "h", 1 << 30, 0}));
  constexpr int kThreads = 8;
  constexpr int kEach = 25;
  std::mutex mu;
  std::vector<int> counter_values;
  std::vector<int> attempt_values;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        auto f = users().bump_counter("code-try:account:a@example.com", 1000, 3600);
        auto c = users().add_code_attempt("u1", CodePurpose::kResetPassword);
        std::lock_guard lock(mu);
        counter_values.push_back(f ? f->count : -1);
        attempt_values.push_back(c && *c ? (*c)->attempts : -1);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int> expected(kThreads * kEach);
  for (int i = 0; i < kThreads * kEach; ++i) expected[i] = i + 1;
  std::sort(counter_values.begin(), counter_values.end());
  std::sort(attempt_values.begin(), attempt_values.end());
  EXPECT_EQ(counter_values, expected);
  EXPECT_EQ(attempt_values, expected);
}

TEST_F(UserRepositoryTest, BumpCounterRestartsAfterItsWindow) {
  auto a = users().bump_counter("k", 1000, 60);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->count, 1);
  EXPECT_EQ(a->window_start, 1000);
  EXPECT_EQ(users().bump_counter("k", 1059, 60)->count, 2);
  auto restarted = users().bump_counter("k", 1060, 60);
  EXPECT_EQ(restarted->count, 1);
  EXPECT_EQ(restarted->window_start, 1060);
  EXPECT_EQ(users().login_failures("k")->count, 1);
}

TEST_F(UserRepositoryTest, TokenGenerationAdvancesAtomicallyAndSurvivesUpdates) {
  ASSERT_TRUE(users().insert_user(user("u1", "a@example.com")));
  EXPECT_EQ(users().find_user_by_id("u1")->value().token_generation, 0);
  auto g = users().advance_token_generation("u1");
  ASSERT_TRUE(g);
  EXPECT_EQ(*g, 1);
  // update_user with a stale copy (generation 0) does not move it back.
  User stale = user("u1", "a@example.com");
  stale.enabled = false;
  ASSERT_TRUE(users().update_user(stale));
  EXPECT_EQ(users().find_user_by_email("a@example.com")->value().token_generation, 1);
  EXPECT_EQ(*users().advance_token_generation("u1"), 2);
  auto missing = users().advance_token_generation("nobody");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
}

TEST_F(UserRepositoryTest, ProfilesAndPagedListing) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(users().insert_user(
        user("u" + std::to_string(i), "u" + std::to_string(i) + "@example.com", 100 + i / 2)));
  }
  ASSERT_TRUE(accounts().set_profile("u3", {"Ada", "+15551234567"}));
  auto missing = accounts().set_profile("nobody", {"X", ""});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);

  auto u3 = accounts().find_user_with_profile("u3");
  ASSERT_TRUE(u3 && *u3);
  EXPECT_EQ((*u3)->profile.name, "Ada");
  EXPECT_EQ((*u3)->profile.phone, "+15551234567");

  std::vector<std::string> seen;
  std::optional<store::UserCursor> after;
  int pages = 0;
  do {
    auto page = accounts().list_users(2, after);
    ASSERT_TRUE(page);
    ++pages;
    for (const auto& u : page->items) seen.push_back(u.user.id);
    after = page->next;
  } while (after && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"u0", "u1", "u2", "u3", "u4"}));

  auto exact = accounts().list_users(5, std::nullopt);
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->items.size(), 5u);
  EXPECT_FALSE(exact->next) << "no cursor when nothing more exists";
}

TEST_F(UserRepositoryTest, DeleteCascadesToCodesTokensAndSettings) {
  ASSERT_TRUE(users().insert_user(user("u1", "a@example.com")));
  ASSERT_TRUE(users().put_code(OneTimeCode{"u1", CodePurpose::kVerifyEmail, "h", 500, 0}));
  ASSERT_TRUE(users().insert_refresh_token(
      RefreshTokenRecord{"t1", "fam", "u1", 100, 10000, std::nullopt, false}));
  auto settings = make_settings_repository(db_);
  ASSERT_TRUE(settings->insert_if_absent("u1", nlohmann::json::object(), 1000));

  auto removed = accounts().delete_user("u1");
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  auto again = accounts().delete_user("u1");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);

  auto code = users().find_code("u1", CodePurpose::kVerifyEmail);
  ASSERT_TRUE(code);
  EXPECT_FALSE(code->has_value());
  auto token = users().find_refresh_token("t1");
  ASSERT_TRUE(token);
  EXPECT_FALSE(token->has_value());
  auto row = settings->find("u1");
  ASSERT_TRUE(row);
  EXPECT_FALSE(row->has_value());
  // The defaults come from the bus after verification: a late delivery for a user deleted
  // meanwhile creates nothing (it did, and the deleted user's settings came back).
  auto late = settings->insert_user_defaults("u1", nlohmann::json::object(), 2000);
  ASSERT_TRUE(late);
  EXPECT_FALSE(*late);
  row = settings->find("u1");
  ASSERT_TRUE(row);
  EXPECT_FALSE(row->has_value());
  ASSERT_TRUE(users().insert_user(user("u2", "b@example.com")));
  auto fresh = settings->insert_user_defaults("u2", nlohmann::json::object(), 2000);
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(*fresh);
}

TEST_F(UserRepositoryTest, AuditIsListedNewestFirstWithActorEmail) {
  ASSERT_TRUE(users().insert_user(user("admin", "root@example.com")));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(users().append_audit(
        AuditEntry{1000 + i, i == 1 ? "" : "admin", "act" + std::to_string(i), "t", "{}"}));
  }
  auto page = accounts().list_audit(2, std::nullopt);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].entry.action, "act2");
  EXPECT_EQ(page->items[0].actor_email, "root@example.com");
  EXPECT_EQ(page->items[1].entry.action, "act1");
  EXPECT_EQ(page->items[1].actor_email, "");
  ASSERT_TRUE(page->next);
  auto rest = accounts().list_audit(2, page->next);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0].entry.action, "act0");
  EXPECT_FALSE(rest->next);
}

}  // namespace
}  // namespace sp::sqlite
