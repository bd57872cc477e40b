#pragma once
// The record of a registered device certificate authority (stored by store::CaRepository, managed
// by pki::CaService). No HTTP, no SQL.

#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sp::pki {

enum class CaStatus { kActive, kInactive, kDeregistered };
/// "ACTIVE" | "INACTIVE" | "DEREGISTERED". Inline: used by the store and the CA service alike.
inline std::string_view to_string(CaStatus status) {
  switch (status) {
    case CaStatus::kActive:
      return "ACTIVE";
    case CaStatus::kInactive:
      return "INACTIVE";
    case CaStatus::kDeregistered:
      return "DEREGISTERED";
  }
  return "INACTIVE";
}
inline std::optional<CaStatus> ca_status_from(std::string_view text) {
  if (text == "ACTIVE") return CaStatus::kActive;
  if (text == "INACTIVE") return CaStatus::kInactive;
  if (text == "DEREGISTERED") return CaStatus::kDeregistered;
  return std::nullopt;
}

struct CertificateAuthority {
  std::string id;  // subject key identifier, uppercase hex
  std::string name;
  std::string subject;  // RFC 2253
  std::string issuer;
  std::string serial;
  std::string fingerprint;  // SHA-256, uppercase hex
  std::int64_t not_before_s = 0;
  std::int64_t not_after_s = 0;
  std::string certificate_pem;
  CaStatus status = CaStatus::kInactive;
  bool auto_registration = false;
  bool managed = false;  // created by `smartproductctl ca create`: the platform keeps its key
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

/// A CA id as it arrives from URLs, the CLI and catalog entries (the SKI in hex, any case, possibly
/// with colons as openssl prints it) in its stored form: colons dropped, upper case. Inline: the
/// catalog checks the ids it is given without depending on the CA service.
inline std::string normalize_ca_id(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':') continue;
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace sp::pki
