#pragma once
// Access tokens: JWT (RFC 7519) over the JWS module, signed by the KeyRing's active key.
//
// Validation (all failures are kUnauthenticated; names are stable):
//   - size <= max_token_bytes, exactly three segments, strict base64url, JSON objects  →
//   InvalidToken
//   - header: kid known to the ring, alg == that key's algorithm, typ "JWT" if present →
//   InvalidToken
//   - iss == our issuer; aud == ours or an array of strings containing ours             →
//   InvalidToken
//   - sub non-empty string, role string, email string if present, jti string if present,
//     gen non-negative integer if present                                              →
//   InvalidToken
//   - exp required (integer): now < exp + leeway, else                                   →
//   TokenExpired
//   - iat required, nbf optional (integers): not later than now + leeway, else        →
//   TokenNotYetValid

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/jws.hpp"

namespace sp::identity {

/// Returns the current time in seconds since the Unix epoch. Injected so tests are deterministic.
using EpochClock = std::function<std::int64_t()>;

/// The system clock as an EpochClock.
EpochClock system_epoch_clock();

/// Access-token settings (the daemon's [identity.jwt] config section).
struct JwtOptions {
  std::string issuer = "smartproduct";
  std::string audience = "smartproduct-api";
  std::chrono::seconds ttl{15 * 60};  // access token lifetime
  // Tolerated clock skew for exp/nbf/iat. The same server issues and verifies, so a few seconds.
  std::chrono::seconds leeway{5};
  bool include_nbf = true;
  std::size_t max_token_bytes = kMaxTokenBytes;
};

/// Who a token is issued for.
struct TokenSubject {
  std::string subject;  // user id
  std::string email;
  std::string role;             // "admin" | "user"
  std::int64_t generation = 0;  // the account's token generation (claim "gen")
};

/// The claims of a validated token.
struct TokenClaims {
  std::string subject;
  std::string email;  // empty if absent
  std::string role;
  std::string issuer;
  std::vector<std::string> audience;
  std::int64_t issued_at = 0;
  std::optional<std::int64_t> not_before;
  std::int64_t expires_at = 0;
  std::string jwt_id;  // empty if absent
  std::string key_id;  // kid of the key that verified the token
  /// The account's token generation when the token was issued (claim "gen", 0 when absent). A
  /// password change or reset moves the account on, which refuses every older token.
  std::int64_t generation = 0;
};

/// A freshly issued token.
struct IssuedToken {
  std::string token;
  std::string jwt_id;
  std::int64_t expires_at = 0;
};

/// Issues and validates access tokens against a KeyRing (which it does not own: the ring must
/// outlive the service). Thread-safe if the clock is.
class JwtService {
 public:
  JwtService(const KeyRing& ring, JwtOptions options, EpochClock clock);

  /// Signs a token for `who` with the ring's active key. kUnavailable if the ring has none.
  Result<IssuedToken> issue(const TokenSubject& who) const;
  /// Validates `token` (see the table above). The bare token: strip "Bearer " before.
  Result<TokenClaims> validate(std::string_view token) const;

  const JwtOptions& options() const { return options_; }

 private:
  const KeyRing& ring_;
  JwtOptions options_;
  EpochClock clock_;
};

}  // namespace sp::identity
