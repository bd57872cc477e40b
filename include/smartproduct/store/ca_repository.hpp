#pragma once
// Storage of registered certificate authorities (table certificate_authorities in
// migrations/main/0005_devices.sql) and of the broker plugin's enforcement state derived from
// them and from device certificates.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/result.hpp"

namespace sp::store {

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

/// What the broker plugin must enforce (its state file / setState command).
struct BrokerState {
  std::vector<std::string> activated_fingerprints;  // ACTIVE device certificates
  std::vector<std::string> revoked_fingerprints;    // REVOKED device certificates
  std::vector<std::string> disabled_cas;  // ids (and subject DNs) of INACTIVE/DEREGISTERED CAs
  /// Pre-authorization: serials with a live registration, and ACTIVE CAs with auto-registration
  /// (a registered serial's new certificate from such a CA has rights from its first packet).
  std::vector<std::string> registered_devices;
  std::vector<std::string> auto_activate_cas;
};

class CaRepository {
 public:
  virtual ~CaRepository() = default;

  /// Inserts a new CA, or replaces a DEREGISTERED row with the same id (re-registration).
  /// kConflict "CaAlreadyRegistered" when the id or fingerprint belongs to a registered CA,
  /// kConflict "CaNameTaken" when another registered CA has the name.
  virtual Result<void> insert(const CertificateAuthority& ca) = 0;
  virtual Result<std::optional<CertificateAuthority>> find(std::string_view id) = 0;
  /// Registered (not deregistered) CA by name.
  virtual Result<std::optional<CertificateAuthority>> find_by_name(std::string_view name) = 0;
  /// Every CA (deregistered ones too when `include_deregistered`), by name.
  virtual Result<std::vector<CertificateAuthority>> list(bool include_deregistered) = 0;
  /// Updates status, auto_registration and updated_at of an existing row; false when unknown.
  virtual Result<bool> update(const CertificateAuthority& ca) = 0;
  /// Number of distinct devices with a PENDING_ACTIVATION or ACTIVE certificate issued by the CA
  /// (device_certificates.ca_id).
  virtual Result<std::int64_t> device_count(std::string_view id) = 0;

  /// The whole enforcement state, computed from the tables.
  virtual Result<BrokerState> broker_state() = 0;
  /// broker_state_revision.revision, and +1 of it (for writers other than the daemon).
  virtual Result<std::int64_t> broker_state_revision() = 0;
  virtual Result<void> bump_broker_state_revision() = 0;
  /// The instance's CA registration code (instance_meta 'ca_registration_code').
  virtual Result<std::string> registration_code() = 0;
};

}  // namespace sp::store
