#pragma once
// The identity service: accounts, login, token refresh with rotation, password reset. No HTTP,
// no SQL: routes call these functions and map the errors (kind → status via sp::http_status).
//
// Error names (stable, the "error" field of responses):
//   InvalidEmail, InvalidPassword (422)          PasswordHashUnavailable (503, Argon2id queue full)
//   InvalidCredentials, InvalidRefreshToken (401) AccountDisabled, EmailNotVerified (403)
//   InvalidCode (422)                             TooManyAttempts (429)
// Codes returned by sign_up/forgot_password must be delivered by email and never logged.
//
// One-time code limits (config: max_code_*; fixed windows of code_limit_window):
// - every code submission (verify, reset) is counted per address and per account (by email, for
//   unknown emails too) BEFORE the code is checked, across codes and purposes: a new code does not
//   buy new guesses; past a limit the answer is TooManyAttempts without checking;
// - each code also counts its own submissions atomically; the one reaching max_code_attempts burns
//   it (TooManyAttempts from then on, until it expires or a new code replaces it);
// - issuing a code (resend, forgot) is counted per address and per account the same way;
// - a successful code deletes every outstanding code of the account and clears its submission
//   count.
// Addresses are counted per IPv4 address and per IPv6 /64 (see address_key()).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/config.hpp"
#include "smartproduct/identity/jwt.hpp"
#include "smartproduct/identity/limits.hpp"
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

/// The key a remote address is counted under: an IPv4 address as is (also when IPv4-mapped), an
/// IPv6 address by its /64 (one subscriber usually holds a whole /64), anything else verbatim.
std::string address_key(std::string_view remote_address);

/// Password policy: at least `min_length` code points, at most kMaxPasswordBytes bytes, valid
/// UTF-8, not equal to the (normalized) email. kUnprocessable "InvalidPassword" otherwise.
Result<void> check_password_policy(std::string_view password, std::string_view normalized_email,
                                   std::size_t min_length);

/// The answer to sign_up(). `already_existed`: the email has an account; nothing was created,
/// `user` carries a fresh id that belongs to no account (the route answers exactly as for a new
/// account) and there is no code.
struct SignUpOutcome : SignUpResult {
  bool already_existed = false;
};

class IdentityService {
 public:
  using IdGenerator = std::function<std::string()>;

  /// `repo` and `ring` must outlive the service. `new_id` makes user ids (default: 16 random
  /// bytes, base64url).
  IdentityService(IdentityConfig config, store::UserRepository& repo, const KeyRing& ring,
                  CodeHasher code_hasher, EpochClock clock, IdGenerator new_id = {});

  /// Creates an unverified "user" account and returns the email verification code (none when
  /// `issue_code` is false: the caller queues the mail and the worker issues it, issue_code()).
  /// An email that has an account is not an error: the password is hashed all the same (same
  /// cost) and the result says already_existed, so the route can answer identically.
  Result<SignUpOutcome> sign_up(std::string_view email, std::string_view password,
                                bool issue_code = true);
  /// Consumes the verification code. Wrong code: InvalidCode (attempt counted); after
  /// max_code_attempts the code is burnt (TooManyAttempts); expired or unknown: InvalidCode.
  Result<UserView> verify_email(std::string_view email, std::string_view code,
                                std::string_view remote_address = {});
  /// Issues a new verification code for an unverified account (nullopt: nothing to send; the
  /// route answers the same either way so emails cannot be enumerated). TooManyAttempts past the
  /// issuance limits.
  Result<std::optional<std::string>> resend_verification(std::string_view email,
                                                         std::string_view remote_address = {});

  /// Checks credentials and throttles, then issues an access token and a refresh token starting a
  /// new family. Limits (fixed windows of failed_login_window; the account's counters count every
  /// attempt atomically before the password is checked and a success clears them): failures per
  /// address (max_failed_logins_per_address), per account and address
  /// (max_failed_logins_per_account: an attacker elsewhere does not lock the owner out), and per
  /// account from addresses that never signed in to it (max_failed_logins_per_account_total;
  /// addresses with a successful sign-in within known_address_ttl are exempt). IPv6 addresses count
  /// per /64. PasswordHashUnavailable (503) when the Argon2id queue is full, before anything is
  /// counted.
  Result<AuthTokens> login(std::string_view email, std::string_view password,
                           std::string_view remote_address);
  /// Rotates a refresh token. Reuse of an already-rotated token revokes its whole family.
  Result<AuthTokens> refresh(std::string_view refresh_token);
  /// Revokes the token's family. Unknown tokens are ignored (idempotent).
  Result<void> logout(std::string_view refresh_token);

  /// Requires the current password; revokes all refresh tokens of the user and every access token
  /// issued before (the account's token generation moves on).
  Result<void> change_password(std::string_view user_id, std::string_view current_password,
                               std::string_view new_password);
  /// Issues a reset code if the account exists and is enabled (nullopt otherwise; same answer to
  /// the client either way).
  Result<std::optional<std::string>> forgot_password(std::string_view email,
                                                     std::string_view remote_address = {});
  /// Consumes the reset code, sets the password, marks the email verified (the code proved
  /// control of it), clears the account's failed logins, revokes all refresh tokens and every
  /// access token issued before (the account's token generation moves on).
  Result<void> reset_password(std::string_view email, std::string_view code,
                              std::string_view new_password, std::string_view remote_address = {});

  /// The request half of resend/forgot: counts the issuance (per address and per account, the
  /// same for unknown emails; TooManyAttempts past a limit) and returns the normalized email to
  /// queue a mail for; InvalidEmail (422) when `email` is not an address. Never looks the account
  /// up, so the answer and the work are the same whether or not it exists.
  Result<std::optional<std::string>> request_code(std::string_view email,
                                                  std::string_view remote_address = {});
  /// The mail worker's half: issues a code of `purpose` for `email` when the account can use it
  /// (verify: enabled and not verified; reset: enabled), else nullopt.
  Result<std::optional<std::string>> issue_code(CodePurpose purpose, std::string_view email);
  /// The mail worker, before it tells an account's owner that someone tried to sign up with the
  /// address: true when the account (still) exists and the notice stays within the account's
  /// code issuance limit (max_codes_per_account per code_limit_window), so nobody can flood an
  /// owner with notices.
  Result<bool> sign_up_notice_allowed(std::string_view email);
  /// The Argon2id gate's Retry-After for a 503 PasswordHashUnavailable.
  std::int64_t busy_retry_after() const;

  /// Seconds until the sign-in limits that refuse `email` from `remote_address` end (>= 1): the
  /// Retry-After of a login's TooManyAttempts.
  std::int64_t login_retry_after(std::string_view email, std::string_view remote_address) const;

  /// Seconds until the code limits that refuse `email` from `remote_address` end, at least 1:
  /// the Retry-After of a TooManyAttempts from submitting (`issuing` false) or issuing a code.
  std::int64_t code_retry_after(std::string_view email, std::string_view remote_address,
                                bool issuing) const;

  /// Validates an access token (the bare JWT). A token verified once is remembered (by its
  /// SHA-256) until it expires, as long as the ring still holds the key that verified it, so the
  /// signature check runs once per token; the answer is the same as without the cache.
  Result<TokenClaims> authenticate(std::string_view access_token) const;

 private:
  Result<AuthTokens> issue_tokens(const User& user, const std::string& family_id);
  Result<void> consume_code(const User& user, CodePurpose purpose, std::string_view code);
  Result<void> count_code_submission(const std::string& email, std::string_view remote_address);
  Result<void> count_code_issue(const std::string& email, std::string_view remote_address);
  // Counts one event under the address key, then the account key; TooManyAttempts past a limit.
  Result<void> count_pair(std::string_view kind, const std::string& email,
                          std::string_view remote_address, int per_account, int per_address);
  Result<std::string> new_code(const User& user, CodePurpose purpose);
  struct LoginCounter {
    std::string key;
    int limit;
    bool failures_only;  // checked before, bumped after a failure (else reserved before)
  };
  // The counters a sign-in of `email` from `remote_address` is held to (see login()).
  std::vector<LoginCounter> login_counters(std::string_view email, std::string_view remote_address,
                                           std::int64_t now) const;
  static std::string known_address_key(std::string_view email, std::string_view address);
  bool known_address(const std::string& email, const std::string& address, std::int64_t now) const;
  void audit(std::string actor, std::string action, std::string target, std::string detail = {});

  // Argon2id hashing through the work gate; PasswordHashUnavailable (503) when it refuses.
  Result<std::string> gated_hash(std::string_view password) const;

  IdentityConfig config_;
  store::UserRepository& repo_;
  const KeyRing& ring_;
  JwtService jwt_;
  std::unique_ptr<VerifiedTokenCache> tokens_;  // thread-safe; a pointer keeps the service movable
  PasswordHasher hasher_;
  std::unique_ptr<WorkGate> gate_;  // a pointer keeps the service movable
  CodeHasher code_hasher_;
  EpochClock clock_;
  IdGenerator new_id_;
};

}  // namespace sp::identity
