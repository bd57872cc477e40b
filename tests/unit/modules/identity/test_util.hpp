#pragma once
// Helpers for the identity tests: forging tokens with arbitrary headers, HMAC for the
// algorithm-confusion tests, other key types to make sure they are refused.

#include <string>
#include <string_view>

#include "smartproduct/identity/jws.hpp"

namespace sp::identity::test {

/// b64(header).b64(payload).b64(key.sign(...)) with NO checks: lets tests build hostile tokens
/// that are nevertheless correctly signed by a trusted key.
std::string forge(const SigningKey& key, std::string_view header_json,
                  std::string_view payload_json);

/// b64(header).b64(payload).b64(HMAC-SHA256(secret, signing input)).
std::string forge_hs256(std::string_view secret, std::string_view header_json,
                        std::string_view payload_json);

/// PEM of a freshly generated key of another type ("RSA" 2048, "P-384", "X25519").
std::string other_private_pem(std::string_view kind);
/// Same key encrypted with a passphrase (PKCS#8, AES-256-CBC).
std::string encrypted_private_pem(const SigningKey& key, std::string_view passphrase);

/// Flips one bit of the decoded segment `index` (0..2) and re-encodes.
std::string flip_bit(std::string_view token, int index, std::size_t byte, int bit);

}  // namespace sp::identity::test
