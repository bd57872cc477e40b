#pragma once
// Identity domain types: accounts, one-time codes, refresh-token families, audit entries.
// All times are epoch SECONDS (the unit of JWT claims).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sp::identity {

enum class Role { kAdmin, kUser };

/// "admin" / "user".
std::string_view role_name(Role role);
/// Parses "admin" / "user" (exact, lowercase).
std::optional<Role> parse_role(std::string_view text);

/// A stored account. `email` is normalized (trimmed, ASCII-lowercased) and unique.
struct User {
  std::string id;
  std::string email;
  std::string password_hash;  // Argon2id string; never leaves the service
  Role role = Role::kUser;
  bool enabled = true;
  bool email_verified = false;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  // Access tokens carry the generation they were issued under; only tokens of the current one
  // are accepted. Moved on (atomically, never by update_user) by a password change or reset.
  std::int64_t token_generation = 0;
};

/// What clients may see of an account.
struct UserView {
  std::string id;
  std::string email;
  Role role = Role::kUser;
  bool enabled = true;
  bool email_verified = false;
};

UserView view_of(const User& user);

enum class CodePurpose { kVerifyEmail, kResetPassword };

/// "verify-email" / "reset-password" (also the HMAC domain separator of CodeHasher).
std::string_view code_purpose_name(CodePurpose purpose);

/// A one-time code; at most one live code per (user, purpose). Only its hash is stored.
struct OneTimeCode {
  std::string user_id;
  CodePurpose purpose = CodePurpose::kVerifyEmail;
  std::string code_hash;
  std::int64_t expires_at = 0;
  int attempts = 0;  // submissions so far (counted before the code is checked)
};

/// One refresh token of a family. Each use rotates it: the used token is marked used and a new
/// one joins the family. Presenting a used token again means it leaked: the family is revoked.
struct RefreshTokenRecord {
  std::string token_hash;  // hash_token(token)
  std::string family_id;
  std::string user_id;
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
  std::optional<std::int64_t> used_at;
  bool revoked = false;
};

/// A counter of one key in a fixed window: failed logins ("account:<email>", "address:<ip>"),
/// code submissions ("code-try:…") and codes issued ("code-issue:…").
struct LoginFailures {
  int count = 0;
  std::int64_t window_start = 0;
};

/// A security-relevant event, kept for administrators.
struct AuditEntry {
  std::int64_t at = 0;
  std::string actor;   // user id, or "" when anonymous
  std::string action;  // e.g. "user.sign_up", "auth.refresh_reuse"
  std::string target;  // user id or family id concerned
  std::string detail;  // free text without secrets
};

/// The answer to a successful login or refresh.
struct AuthTokens {
  std::string access_token;
  std::int64_t access_expires_at = 0;
  std::string refresh_token;  // opaque; only its hash is stored
  std::int64_t refresh_expires_at = 0;
  UserView user;
};

/// The answer to sign-up. The code must be delivered out of band (email); never log it.
struct SignUpResult {
  UserView user;
  std::string verification_code;
};

}  // namespace sp::identity
