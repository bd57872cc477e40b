#pragma once
// Extraction of the identity fields the policy needs from an X.509 certificate (OpenSSL 3).

#include <optional>
#include <string_view>

#include "policy.hpp"

struct x509_st;

namespace sp::broker_plugin {

/// Reads fingerprint, CN, issuer DN, serial and AKI from a (verified) certificate. Never throws on
/// odd content: a missing field stays empty; a subject with several CNs yields an empty CN, which
/// the policy refuses as invalid_cn. `cert` is not freed.
CertIdentity extract_identity(x509_st* cert);

/// Parses one PEM certificate and extracts its identity (tests and tools).
std::optional<CertIdentity> identity_from_pem(std::string_view pem);

}  // namespace sp::broker_plugin
