#pragma once
// Opaque secrets: refresh tokens, one-time codes, their storage hashes, constant-time compare.
// Randomness comes from libsodium (the OS CSPRNG).

#include <cstddef>
#include <string>
#include <string_view>

namespace sp::identity {

/// 32 random bytes, base64url without padding (43 characters).
std::string generate_refresh_token();

/// Random identifier of `bytes` random bytes, base64url (used for jti, family ids).
std::string generate_random_id(std::size_t bytes = 16);

/// SHA-256 of `token`, lowercase hex (64 characters). Refresh tokens carry 256 bits of entropy,
/// so an unsalted hash is enough: the database stores only this.
std::string hash_token(std::string_view token);

/// Compares in time that depends only on the lengths, not the contents.
bool constant_time_equal(std::string_view a, std::string_view b);

/// A uniformly random decimal code of `digits` digits (1..9), zero-padded ("004217"). Uses
/// rejection sampling (randombytes_uniform), so there is no modulo bias.
std::string generate_numeric_code(int digits = 6);

/// Hashes short one-time codes (email verification, password reset). A 6-digit code has only
/// 10^6 values, so a plain hash would be reversed instantly from a leaked database: this is an
/// HMAC-SHA-256 keyed by a server secret (the "pepper", kept out of the database) and bound to
/// the purpose and the account, so a code for one account/purpose never matches another.
class CodeHasher {
 public:
  /// `pepper` must be at least 32 bytes (throws std::invalid_argument otherwise).
  explicit CodeHasher(std::string pepper);
  /// Generates a pepper suitable for the constructor (32 random bytes).
  static std::string generate_pepper();

  /// Lowercase hex HMAC-SHA-256 over (purpose, account, code).
  std::string hash(std::string_view purpose, std::string_view account, std::string_view code) const;
  /// Constant-time check of `code` against a stored hash.
  bool verify(std::string_view purpose, std::string_view account, std::string_view code,
              std::string_view stored_hash) const;

 private:
  std::string pepper_;
};

}  // namespace sp::identity
