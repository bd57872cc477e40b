#pragma once
// Password hashing with Argon2id (libsodium crypto_pwhash, ALG_ARGON2ID13). Hashes are the
// self-describing "$argon2id$v=19$m=...,t=...,p=1$salt$hash" strings, safe to store as is.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"

namespace sp::identity {

/// Argon2id cost. Defaults are libsodium's INTERACTIVE limits (opslimit 2, 64 MiB): about 0.1 s
/// per hash on one core here, which bounds login throughput at ~10/s per core; raise them (e.g.
/// MODERATE: 3, 256 MiB) when the machine can afford it. needs_rehash() upgrades old hashes.
struct PasswordHashParams {
  std::uint64_t opslimit = 2;                  // crypto_pwhash_OPSLIMIT_INTERACTIVE
  std::size_t memlimit = 64ull * 1024 * 1024;  // crypto_pwhash_MEMLIMIT_INTERACTIVE (bytes)
};

/// Longest password accepted (bytes); longer input is refused before hashing.
inline constexpr std::size_t kMaxPasswordBytes = 1024;

class PasswordHasher {
 public:
  /// Throws std::invalid_argument if the params are outside libsodium's Argon2id limits (a
  /// startup-config error), std::runtime_error if libsodium cannot initialise.
  explicit PasswordHasher(PasswordHashParams params = {});

  /// Hashes with a fresh random salt. kUnprocessable for an over-long password, kUnavailable if
  /// the memory cannot be allocated.
  Result<std::string> hash(std::string_view password) const;
  /// True iff `hash` is a valid Argon2 hash string of `password`. Malformed hash → false.
  bool verify(std::string_view hash, std::string_view password) const;
  /// True if `hash` was not made with Argon2id at exactly the current params (or is malformed).
  bool needs_rehash(std::string_view hash) const;
  /// Spends the same time as a verify() against a real hash; call it when the account does not
  /// exist so login timing does not reveal which emails are registered.
  void dummy_verify(std::string_view password) const;

  const PasswordHashParams& params() const { return params_; }

 private:
  PasswordHashParams params_;
  // Made at the first dummy_verify(), not at construction: an Argon2id hash needs memlimit
  // (64 MiB by default) and made at start it set the idle daemon's peak RSS (84 MB for 21 MB).
  mutable std::once_flag dummy_once_;
  mutable std::string dummy_hash_;
};

}  // namespace sp::identity
