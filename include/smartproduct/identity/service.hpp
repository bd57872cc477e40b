#pragma once
// The identity service: accounts, login, token refresh with rotation, password reset. No HTTP,
// no SQL: routes call these functions and map the errors (kind → status via sp::http_status).
//
// Error names (stable, the "error" field of responses):
//   InvalidEmail, InvalidPassword (422)          UserAlreadyExists (409)
//   InvalidCredentials, InvalidRefreshToken (401) AccountDisabled, EmailNotVerified (403)
//   InvalidCode (422)                             TooManyAttempts (429)
// Codes returned by sign_up/forgot_password must be delivered by email and never logged.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/config.hpp"
#include "smartproduct/identity/jwt.hpp"
#include "smartproduct/identity/password.hpp"
#include "smartproduct/identity/secrets.hpp"
#include "smartproduct/identity/token_cache.hpp"
#include "smartproduct/identity/types.hpp"
#include "smartproduct/store/user_repository.hpp"

namespace sp::identity {

/// Normalizes an email for storage and lookup: trims ASCII whitespace, lowercases ASCII. Returns
/// nullopt if it is not a plausible address (one '@', non-empty parts, a '.' in the domain, no
/// spaces or control characters, at most 254 bytes).
std::optional<std::string> normalize_email(std::string_view email);

/// Password policy: at least `min_length` code points, at most kMaxPasswordBytes bytes, valid
/// UTF-8, not equal to the (normalized) email. kUnprocessable "InvalidPassword" otherwise.
Result<void> check_password_policy(std::string_view password, std::string_view normalized_email,
                                   std::size_t min_length);

class IdentityService {
 public:
  using IdGenerator = std::function<std::string()>;

  /// `repo` and `ring` must outlive the service. `new_id` makes user ids (default: 16 random
  /// bytes, base64url).
  IdentityService(IdentityConfig config, store::UserRepository& repo, const KeyRing& ring,
                  CodeHasher code_hasher, EpochClock clock, IdGenerator new_id = {});

  /// Creates an unverified "user" account and returns the email verification code.
  Result<SignUpResult> sign_up(std::string_view email, std::string_view password);
  /// Consumes the verification code. Wrong code: InvalidCode (attempt counted); after
  /// max_code_attempts the code is burnt (TooManyAttempts); expired or unknown: InvalidCode.
  Result<UserView> verify_email(std::string_view email, std::string_view code);
  /// Issues a new verification code for an unverified account (nullopt: nothing to send; the
  /// route answers the same either way so emails cannot be enumerated).
  Result<std::optional<std::string>> resend_verification(std::string_view email);

  /// Checks credentials and throttles (per account and per address), then issues an access token
  /// and a refresh token starting a new family.
  Result<AuthTokens> login(std::string_view email, std::string_view password,
                           std::string_view remote_address);
  /// Rotates a refresh token. Reuse of an already-rotated token revokes its whole family.
  Result<AuthTokens> refresh(std::string_view refresh_token);
  /// Revokes the token's family. Unknown tokens are ignored (idempotent).
  Result<void> logout(std::string_view refresh_token);

  /// Requires the current password; revokes all refresh tokens of the user.
  Result<void> change_password(std::string_view user_id, std::string_view current_password,
                               std::string_view new_password);
  /// Issues a reset code if the account exists and is enabled (nullopt otherwise; same answer to
  /// the client either way).
  Result<std::optional<std::string>> forgot_password(std::string_view email);
  /// Consumes the reset code, sets the password, marks the email verified (the code proved
  /// control of it), clears the account's failed logins, revokes all refresh tokens.
  Result<void> reset_password(std::string_view email, std::string_view code,
                              std::string_view new_password);

  /// Validates an access token (the bare JWT). A token verified once is remembered (by its
  /// SHA-256) until it expires, as long as the ring still holds the key that verified it, so the
  /// signature check runs once per token; the answer is the same as without the cache.
  Result<TokenClaims> authenticate(std::string_view access_token) const;

 private:
  Result<AuthTokens> issue_tokens(const User& user, const std::string& family_id);
  Result<void> consume_code(const User& user, CodePurpose purpose, std::string_view code);
  Result<std::string> new_code(const User& user, CodePurpose purpose);
  Result<void> record_login_failure(const std::string& key, std::int64_t now);
  Result<bool> throttled(const std::string& key, int limit, std::int64_t now);
  void audit(std::string actor, std::string action, std::string target, std::string detail = {});

  IdentityConfig config_;
  store::UserRepository& repo_;
  const KeyRing& ring_;
  JwtService jwt_;
  std::unique_ptr<VerifiedTokenCache> tokens_;  // thread-safe; a pointer keeps the service movable
  PasswordHasher hasher_;
  CodeHasher code_hasher_;
  EpochClock clock_;
  IdGenerator new_id_;
};

}  // namespace sp::identity
