#pragma once
// A bounded cache of access tokens whose signature and claims were verified, so that the ECDSA
// (or EdDSA) verification runs once per token instead of once per request.
//
// Security rules it keeps:
// - the key is the full SHA-256 of the token text, so one token can never be taken for another;
// - an entry is honoured only while `now < refuse_from` (the validator's own expiry bound, exp +
//   leeway), so an expired token is refused at exactly the same second as without the cache;
// - an entry remembers the key that verified it; the caller checks that the key ring still holds
//   that very key (a retired or replaced key makes the entry useless) before trusting it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <unordered_map>

#include "smartproduct/identity/jws.hpp"
#include "smartproduct/identity/jwt.hpp"

namespace sp::identity {

class VerifiedTokenCache {
 public:
  struct Entry {
    TokenClaims claims;
    VerificationKey key;       // the key that verified the signature
    std::int64_t refuse_from;  // epoch seconds: the token is refused from this second on
  };

  /// At most `capacity` tokens are kept (at least 1).
  explicit VerifiedTokenCache(std::size_t capacity = 16384);

  /// The entry of `token` if present and `now < refuse_from`; an expired entry is dropped.
  std::shared_ptr<const Entry> find(std::string_view token, std::int64_t now) const;

  /// Remembers a verified token. When full, expired entries are dropped first and, if that frees
  /// nothing, everything: a flood of valid tokens costs re-verification, never unbounded memory.
  void insert(std::string_view token, Entry entry, std::int64_t now);

  /// Drops a token (e.g. its key is gone).
  void erase(std::string_view token);

  std::size_t size() const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  static Digest digest(std::string_view token);

  std::size_t capacity_;
  mutable std::shared_mutex mu_;
  mutable std::unordered_map<Digest, std::shared_ptr<const Entry>, DigestHash> entries_;
};

}  // namespace sp::identity
