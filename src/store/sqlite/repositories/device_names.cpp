// The status names of include/smartproduct/store/device_repository.hpp. Kept out of
// device_repository.cpp (and out of sp_store_repositories) so that the devices service and the
// JITR module can name statuses without linking the SQLite layer.

#include "smartproduct/store/device_repository.hpp"

namespace sp::store {

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

}  // namespace sp::store
