#pragma once
// Extraction of the identity fields the policy needs from an X.509 certificate (OpenSSL 3).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "policy.hpp"

struct x509_st;
struct X509_name_st;

namespace sp::broker_plugin {

/// Reads fingerprint, CN, issuer DN, serial and AKI from a (verified) certificate. Never throws on
/// odd content: a missing field stays empty; a subject with several CNs yields an empty CN, which
/// the policy refuses as invalid_cn. `cert` is not freed.
CertIdentity extract_identity(x509_st* cert);

/// Uppercase hex of `len` bytes, no separators.
std::string hex_upper(const unsigned char* data, std::size_t len);

/// A distinguished name in RFC 2253 form; "" when absent or unprintable.
std::string name_rfc2253(const X509_name_st* name);

/// SHA-256 over the certificate's DER, uppercase hex; "" on failure.
std::string sha256_fingerprint(const x509_st* cert);

/// Parses one PEM certificate and extracts its identity (tests and tools).
std::optional<CertIdentity> identity_from_pem(std::string_view pem);

}  // namespace sp::broker_plugin
