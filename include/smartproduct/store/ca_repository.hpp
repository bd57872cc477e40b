#pragma once
// Storage of registered certificate authorities (table certificate_authorities in
// migrations/main/0005_devices.sql; the records are the pki module's types, pki/ca_types.hpp) and
// of the broker plugin's enforcement state derived from them and from device certificates.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/pki/ca_types.hpp"

namespace sp::store {

/// What the broker plugin must enforce (its state file / setState command).
struct BrokerState {
  std::vector<std::string> activated_fingerprints;  // ACTIVE device certificates
  std::vector<std::string> revoked_fingerprints;    // REVOKED device certificates
  std::vector<std::string> disabled_cas;  // ids (and subject DNs) of INACTIVE/DEREGISTERED CAs
  /// Pre-authorization: serials with a live registration, and ACTIVE CAs with auto-registration
  /// (a registered serial's new certificate from such a CA has rights from its first packet).
  std::vector<std::string> registered_devices;
  std::vector<std::string> auto_activate_cas;
  /// Serials whose publishes the plugin refuses except to their shadow and command responses
  /// (detection's quarantine).
  std::vector<std::string> quarantined_devices;
};

class CaRepository {
 public:
  virtual ~CaRepository() = default;

  /// Inserts a new CA, or replaces a DEREGISTERED row with the same id (re-registration).
  /// kConflict "CaAlreadyRegistered" when the id or fingerprint belongs to a registered CA,
  /// kConflict "CaNameTaken" when another registered CA has the name.
  virtual Result<void> insert(const pki::CertificateAuthority& ca) = 0;
  virtual Result<std::optional<pki::CertificateAuthority>> find(std::string_view id) = 0;
  /// Registered (not deregistered) CA by name.
  virtual Result<std::optional<pki::CertificateAuthority>> find_by_name(std::string_view name) = 0;
  /// Every CA (deregistered ones too when `include_deregistered`), by name.
  virtual Result<std::vector<pki::CertificateAuthority>> list(bool include_deregistered) = 0;
  /// Updates status, auto_registration and updated_at of an existing row; false when unknown.
  virtual Result<bool> update(const pki::CertificateAuthority& ca) = 0;
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
