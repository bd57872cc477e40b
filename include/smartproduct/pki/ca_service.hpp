#pragma once
// Registered device certificate authorities: the self-hosted version of AWS IoT's CA registration
// (the seed registered its CA with AWS IoT; DESIGN.md §5 "Trust anchors"). No HTTP, no SQL: the
// REST binding is pki/ca_routes.hpp, the CLI is `smartproductctl ca`, storage is
// store::CaRepository.
//
// A manufacturer proves possession of its CA's key with a verification certificate whose CN is
// the instance's registration code, signed by that key. Only ACTIVE CAs are in the broker's
// capath (`ca_dir/<id>.pem`, rehashed), so TLS accepts their devices at once and refuses those of
// INACTIVE and DEREGISTERED CAs. mosquitto 2.0.11 keeps a capath CA it has used in its TLS store
// until it exits (SIGHUP reloads only certfile/keyfile/crlfile), so taking a CA out of the capath
// publishes CaUntrusted: the daemon restarts a managed broker; an external one needs a restart by
// its operator. Until then the plugin refuses that CA's devices (it re-reads the capath and has the
// CA in disabledCas).
//
// A CA's id is its subject key identifier (uppercase hex). The broker plugin attributes a device
// certificate to the CA whose public key verifies its signature (never to the AKI the issuer
// wrote), and reports that CA's id. So no two CAs may share an SKI or a subject, and none may
// share them with the platform root (409 CaAlreadyRegistered).
//
// Error names: InvalidCaCertificate, InvalidVerificationCertificate, RegistrationCodeMismatch,
// VerificationSignatureInvalid, InvalidCaName, InvalidCaStatus (422); CertificateTooLarge (413);
// CaAlreadyRegistered, CaNameTaken, CaDeregistered, ManagedCaExists (409); CaNotFound (404);
// CaNotManaged (422); CaFileWriteFailed (503).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/pki/events.hpp"
#include "smartproduct/pki/pki.hpp"
#include "smartproduct/store/ca_repository.hpp"

namespace sp::pki {

/// Largest accepted PEM text per certificate (a CA certificate is 1-3 KiB).
inline constexpr std::size_t kMaxCaPemBytes = 32 * 1024;
inline constexpr std::size_t kMaxCaNameLength = 64;
inline constexpr int kDefaultManagedCaDays = 3650;

/// Names of CAs: [A-Za-z0-9._-]{1,64}.
bool valid_ca_name(std::string_view name);

struct CaServiceConfig {
  std::filesystem::path ca_dir;          ///< the broker's capath
  std::filesystem::path managed_ca_dir;  ///< keys of CAs the platform keeps (0700)
  /// The platform root (PEM, one or more certificates): a device CA may not share its SKI or
  /// subject. Empty: not checked (tests).
  std::filesystem::path root_ca_file;
};

class CaService {
 public:
  /// Everything must outlive the service. Status changes publish pki/events.hpp on `bus` (the
  /// daemon's JITR tells the broker plugin; smartproductctl's bus has no subscribers, the daemon
  /// notices its changes through the broker state revision instead).
  CaService(store::CaRepository& repo, const Clock& clock, CaServiceConfig config, EventBus& bus);

  /// The instance's registration code (the CN a verification certificate must carry).
  Result<std::string> registration_code();

  struct RegisterRequest {
    std::string ca_pem, verification_pem, name;  ///< name empty: derived from the CN
    bool set_active = false;
    bool auto_registration = false;
  };
  /// Validates the CA and the proof of possession, stores it (INACTIVE unless set_active) and
  /// installs it in the capath.
  Result<CertificateAuthority> register_ca(const RegisterRequest& request);
  /// By name; deregistered ones too when `include_deregistered`.
  Result<std::vector<CertificateAuthority>> list(bool include_deregistered);
  /// By id (any status; colons and lowercase accepted) or by the name of a registered CA.
  Result<CertificateAuthority> describe(std::string_view id_or_name);
  /// `status`: kActive or kInactive only. 409 CaDeregistered for a deregistered CA.
  Result<CertificateAuthority> update(std::string_view id_or_name, std::optional<CaStatus> status,
                                      std::optional<bool> auto_registration);
  /// DEREGISTERED, removed from the capath, refused by the plugin. A managed CA's key files are
  /// renamed to `<name>.<id>.key/.crt` (kept, and the name is free again).
  Result<CertificateAuthority> deregister(std::string_view id_or_name);
  /// Devices with a pending or active certificate from the CA.
  Result<std::int64_t> device_count(std::string_view id);

  /// `smartproductctl ca create`: a self-signed manufacturer CA whose key the platform keeps in
  /// managed_ca_dir/<name>.key (0600, + <name>.crt), registered ACTIVE with auto-registration on.
  Result<CertificateAuthority> create_managed(std::string_view name, int days);
  /// Loads a managed CA's certificate and key (to issue device certificates).
  Result<Issuer> managed_issuer(std::string_view name);

  std::filesystem::path managed_cert_path(std::string_view name) const;
  std::filesystem::path managed_key_path(std::string_view name) const;

 private:
  Result<CertificateAuthority> resolve(std::string_view id_or_name);
  Result<CertificateAuthority> store_new(CertificateAuthority ca);
  Result<void> check_identifiers(const CertificateAuthority& ca);
  Result<void> install(const CertificateAuthority& ca);
  Result<void> uninstall(const std::string& id);
  void notify(const CertificateAuthority& ca);

  store::CaRepository& repo_;
  const Clock& clock_;
  CaServiceConfig config_;
  EventBus& bus_;
};

}  // namespace sp::pki
