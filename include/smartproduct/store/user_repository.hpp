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
  /// Replaces every field of the user with this id; kNotFound "UserNotFound" if absent.
  virtual Result<void> update_user(const identity::User& user) = 0;
  virtual Result<std::optional<identity::User>> find_user_by_id(std::string_view id) = 0;
  /// Case-insensitive lookup.
  virtual Result<std::optional<identity::User>> find_user_by_email(std::string_view email) = 0;

  // ---- one-time codes (at most one per user and purpose) ----
  /// Inserts or replaces the code for (user_id, purpose).
  virtual Result<void> put_code(const identity::OneTimeCode& code) = 0;
  virtual Result<std::optional<identity::OneTimeCode>> find_code(std::string_view user_id,
                                                                 identity::CodePurpose purpose) = 0;
  /// Increments the attempt counter of the code (no-op if absent).
  virtual Result<void> add_code_attempt(std::string_view user_id,
                                        identity::CodePurpose purpose) = 0;
  virtual Result<void> delete_code(std::string_view user_id, identity::CodePurpose purpose) = 0;

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

  // ---- audit ----
  virtual Result<void> append_audit(const identity::AuditEntry& entry) = 0;
};

}  // namespace sp::store
