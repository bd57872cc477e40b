#pragma once
// Storage of the identity module. Implementations: SQLite (src/store/sqlite), in-memory fakes in
// tests. All times are epoch seconds. Errors other than the documented ones are kUnavailable
// (the database is not usable) or kInternal.

#include <optional>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/types.hpp"

namespace sp::store {

class UserRepository {
 public:
  virtual ~UserRepository() = default;

  // ---- users ----
  /// Inserts a user. Emails are unique case-insensitively (the service passes them normalized;
  /// the store should still enforce it, e.g. UNIQUE COLLATE NOCASE): a duplicate gives
  /// kConflict "UserAlreadyExists"; so does a duplicate id.
  virtual Result<void> insert_user(const identity::User& user) = 0;
  /// Replaces every field of the user with this id except token_generation; kNotFound
  /// "UserNotFound" if absent.
  virtual Result<void> update_user(const identity::User& user) = 0;
  /// Atomically adds one to the user's token generation and returns the new value (kNotFound
  /// "UserNotFound" if absent). Every access token of an older generation is refused from then on.
  virtual Result<std::int64_t> advance_token_generation(std::string_view user_id) = 0;
  virtual Result<std::optional<identity::User>> find_user_by_id(std::string_view id) = 0;
  /// Case-insensitive lookup.
  virtual Result<std::optional<identity::User>> find_user_by_email(std::string_view email) = 0;

  // ---- one-time codes (at most one per user and purpose) ----
  /// Inserts or replaces the code for (user_id, purpose).
  virtual Result<void> put_code(const identity::OneTimeCode& code) = 0;
  virtual Result<std::optional<identity::OneTimeCode>> find_code(std::string_view user_id,
                                                                 identity::CodePurpose purpose) = 0;
  /// Atomically increments the attempt counter of the code and returns the code as it is after
  /// the increment (nullopt if there is none). One statement, so concurrent submissions each see
  /// a distinct count, and the count and the hash they see belong to the same code.
  virtual Result<std::optional<identity::OneTimeCode>> add_code_attempt(
      std::string_view user_id, identity::CodePurpose purpose) = 0;
  virtual Result<void> delete_code(std::string_view user_id, identity::CodePurpose purpose) = 0;
  /// Deletes every code of the user (all purposes); returns how many there were. Of concurrent
  /// callers only one sees a non-zero count: the one that may act on a code it just verified.
  virtual Result<int> delete_user_codes(std::string_view user_id) = 0;

  // ---- refresh tokens ----
  virtual Result<void> insert_refresh_token(const identity::RefreshTokenRecord& record) = 0;
  virtual Result<std::optional<identity::RefreshTokenRecord>> find_refresh_token(
      std::string_view token_hash) = 0;
  /// Atomically marks an unused, unrevoked token as used at `at` (compare-and-set). Returns false
  /// if it was already used or revoked (a concurrent refresh won, or the token is replayed).
  virtual Result<bool> mark_refresh_token_used(std::string_view token_hash, std::int64_t at) = 0;
  /// Revokes every token of the family.
  virtual Result<void> revoke_refresh_family(std::string_view family_id) = 0;
  /// Revokes every token of the user (password change/reset, account disabled).
  virtual Result<void> revoke_user_refresh_tokens(std::string_view user_id) = 0;

  // ---- failed-login counters ----
  /// Zero counters when the key is unknown.
  virtual Result<identity::LoginFailures> login_failures(std::string_view key) = 0;
  virtual Result<void> set_login_failures(std::string_view key,
                                          const identity::LoginFailures& value) = 0;
  virtual Result<void> clear_login_failures(std::string_view key) = 0;
  /// Atomically adds one to the counter `key` and returns it: a missing counter, or one whose
  /// window started `window_s` or more before `now`, restarts at 1 with window_start = now. One
  /// statement, so concurrent callers never read a stale count.
  virtual Result<identity::LoginFailures> bump_counter(std::string_view key, std::int64_t now,
                                                       std::int64_t window_s) = 0;

  // ---- audit ----
  virtual Result<void> append_audit(const identity::AuditEntry& entry) = 0;
};

}  // namespace sp::store
