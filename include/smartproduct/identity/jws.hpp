#pragma once
// JSON Web Signature, compact serialization (RFC 7515), restricted to ES256 (P-256, RFC 7518 §3.4)
// and EdDSA with Ed25519 (RFC 8037).
//
// Security model: the verifier takes the algorithm from the KEY, never from the token. The header's
// "alg" must equal the key's algorithm, otherwise the token is refused. Only the header parameters
// "alg", "kid" and "typ" are accepted; anything else ("crit", "jwk", "jku", "x5u", "x5c", ...) is
// refused, as are "none", HS*, RS* and unknown algorithms. Header and payload must be JSON objects
// (payload: only for the JWT layer), without duplicate member names.
//
// All failures are sp::Error{kUnauthenticated, "InvalidToken", <generic message>, <detail>}: the
// detail says why (for logs) and never contains key material.

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"

namespace sp::identity {

/// The two signature algorithms we implement. Derived from the key type, never chosen by input.
enum class Algorithm {
  kEs256,  // ECDSA P-256 with SHA-256; signature is R||S, 64 bytes
  kEdDsa,  // Ed25519; signature 64 bytes
};

/// The JOSE name: "ES256" or "EdDSA".
std::string_view algorithm_name(Algorithm alg);

/// Largest compact token (in bytes) any verifier in this module accepts.
inline constexpr std::size_t kMaxTokenBytes = 8 * 1024;

namespace detail {
struct KeyMaterial;  // owns an OpenSSL EVP_PKEY; defined in jws.cpp
}

/// A public key that verifies signatures. Cheap to copy (shared, immutable key material).
class VerificationKey {
 public:
  /// Loads a "PUBLIC KEY" PEM (SubjectPublicKeyInfo). Only P-256 EC and Ed25519 keys are
  /// accepted. An empty kid means: use the RFC 7638 thumbprint.
  static Result<VerificationKey> from_pem(std::string_view pem, std::string kid = {});
  /// Imports a public JWK (RFC 7517/7518/8037): kty EC crv P-256 x y, or kty OKP crv Ed25519 x.
  /// "alg" and "use", when present, must be consistent ("ES256"/"EdDSA", "sig"). The kid comes
  /// from the JWK, else the RFC 7638 thumbprint. Private members ("d") are ignored.
  static Result<VerificationKey> from_jwk(const nlohmann::json& jwk);

  Algorithm algorithm() const { return alg_; }
  const std::string& kid() const { return kid_; }

  /// Public JWK with kid, alg and use "sig".
  nlohmann::json to_jwk() const;
  /// "PUBLIC KEY" PEM.
  std::string to_pem() const;
  /// RFC 7638 JWK thumbprint (SHA-256, base64url).
  std::string thumbprint() const;
  /// True when both hold the same public key (kid is not compared).
  bool same_key_as(const VerificationKey& other) const;

  /// Verifies a raw JWS signature (64 bytes for both algorithms) over `signing_input`.
  bool verify_signature(std::string_view signing_input, std::string_view signature) const;

 private:
  VerificationKey(std::shared_ptr<const detail::KeyMaterial> key, Algorithm alg, std::string kid)
      : key_(std::move(key)), alg_(alg), kid_(std::move(kid)) {}
  friend class SigningKey;

  std::shared_ptr<const detail::KeyMaterial> key_;
  Algorithm alg_;
  std::string kid_;
};

/// A private key that signs. Cheap to copy (shared, immutable key material).
class SigningKey {
 public:
  /// Generates a fresh key. An empty kid means: use the RFC 7638 thumbprint.
  static Result<SigningKey> generate(Algorithm alg, std::string kid = {});
  /// Loads an unencrypted private key PEM (PKCS#8 "PRIVATE KEY" or "EC PRIVATE KEY"); only P-256
  /// and Ed25519 are accepted. Encrypted PEMs are refused (no password prompt).
  static Result<SigningKey> from_pem(std::string_view pem, std::string kid = {});
  /// Imports a private JWK (as from_jwk of VerificationKey, plus "d"). The public members must
  /// match the private key.
  static Result<SigningKey> from_jwk(const nlohmann::json& jwk);

  Algorithm algorithm() const { return alg_; }
  const std::string& kid() const { return kid_; }

  /// The matching public key, with the same kid.
  VerificationKey verification_key() const;
  /// PKCS#8 "PRIVATE KEY" PEM, unencrypted. The caller stores it with mode 0600.
  std::string to_pem() const;

  /// Signs `signing_input`, returning the raw JWS signature (R||S for ES256).
  Result<std::string> sign(std::string_view signing_input) const;

 private:
  SigningKey(std::shared_ptr<const detail::KeyMaterial> key, Algorithm alg, std::string kid)
      : key_(std::move(key)), alg_(alg), kid_(std::move(kid)) {}

  std::shared_ptr<const detail::KeyMaterial> key_;
  Algorithm alg_;
  std::string kid_;
};

/// A verified JWS: its protected header (a JSON object) and the payload bytes.
struct VerifiedJws {
  nlohmann::json header;
  std::string payload;
};

/// Produces a compact JWS. `header` must be a JSON object; "alg" is set from the key (an "alg"
/// already present must equal it). The header is serialized as nlohmann::json::dump() (members
/// sorted, no whitespace). "kid" is not added: callers that want it (KeyRing) set it.
Result<std::string> sign_compact(const SigningKey& key, nlohmann::json header,
                                 std::string_view payload);

/// Verifies a compact JWS with one given key (see the security model above). A "kid" in the
/// header, if present, must equal the key's kid.
Result<VerifiedJws> verify_compact(std::string_view token, const VerificationKey& key);

/// Verification keys by kid plus one active signing key. Rotation: install a new signing key; the
/// old public key keeps verifying until removed. Thread-safe (readers share a lock).
class KeyRing {
 public:
  /// Adds a verification key. Fails (kConflict) if the kid is taken by a different key.
  Result<void> add_verification_key(VerificationKey key);
  /// Removes a verification key; returns false if unknown or if it belongs to the active signing
  /// key (retire a signing key by installing another first).
  bool remove_verification_key(std::string_view kid);
  /// Makes `key` the active signing key and adds its public key (kid conflicts as above).
  Result<void> set_signing_key(SigningKey key);

  std::optional<SigningKey> signing_key() const;
  std::optional<VerificationKey> find(std::string_view kid) const;
  std::vector<std::string> kids() const;

  /// Signs with the active key, setting "alg" and "kid" in the header. kUnavailable if no key.
  Result<std::string> sign(nlohmann::json header, std::string_view payload) const;
  /// Verifies a token: the header must carry a "kid" known to the ring; that key (and its
  /// algorithm) decide. Unknown or missing kid → InvalidToken.
  Result<VerifiedJws> verify(std::string_view token) const;

  /// JWKS document (RFC 7517 §5): {"keys": [public JWKs...]}, ordered by kid.
  nlohmann::json jwks() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, VerificationKey, std::less<>> keys_;
  std::optional<SigningKey> signing_;
};

}  // namespace sp::identity
