// The status names of the devices module's records (devices/types.hpp), in their own small
// library so that the SQLite repositories and the JITR module can name statuses without linking
// the devices service.

#include "smartproduct/devices/types.hpp"

namespace sp::devices {

std::string_view to_string(RegistrationStatus status) {
  switch (status) {
    case RegistrationStatus::kPending:
      return "pending";
    case RegistrationStatus::kComplete:
      return "complete";
    case RegistrationStatus::kDeleted:
      return "deleted";
  }
  return "pending";
}

std::optional<RegistrationStatus> registration_status_from(std::string_view text) {
  if (text == "pending") return RegistrationStatus::kPending;
  if (text == "complete") return RegistrationStatus::kComplete;
  if (text == "deleted") return RegistrationStatus::kDeleted;
  return std::nullopt;
}

std::string_view to_string(CertificateStatus status) {
  switch (status) {
    case CertificateStatus::kPendingActivation:
      return "PENDING_ACTIVATION";
    case CertificateStatus::kActive:
      return "ACTIVE";
    case CertificateStatus::kRevoked:
      return "REVOKED";
    case CertificateStatus::kRefused:
      return "REFUSED";
  }
  return "PENDING_ACTIVATION";
}

std::optional<CertificateStatus> certificate_status_from(std::string_view text) {
  if (text == "PENDING_ACTIVATION") return CertificateStatus::kPendingActivation;
  if (text == "ACTIVE") return CertificateStatus::kActive;
  if (text == "REVOKED") return CertificateStatus::kRevoked;
  if (text == "REFUSED") return CertificateStatus::kRefused;
  return std::nullopt;
}

}  // namespace sp::devices
