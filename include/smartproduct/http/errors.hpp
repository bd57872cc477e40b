#pragma once
// The error catalogue: every error name the REST API returns, declared once with its kind (hence
// its HTTP status, through sp::http_status) and a default client-safe message. Services and routes
// build API errors from these entries (`fail(errors::kMissingDevice, "...")`), so a name cannot
// carry two statuses. The OpenAPI document lists the same table (`x-error-catalogue`), and
// tests/unit/net/http/check_error_catalogue.py fails when a source returns a name that is not
// here, or with another kind, or when the OpenAPI list drifts from this one.
//
// Header-only on purpose: services include it without linking the HTTP adapter, and it includes
// nothing but the core result type (no Beast).

#include <string>
#include <string_view>
#include <utility>

#include "smartproduct/core/result.hpp"
#include "smartproduct/store/failure.hpp"

namespace sp::errors {

/// One catalogue entry. `name` is the wire name (the JSON `error` field).
struct Code {
  std::string_view name;
  ErrorKind kind;
  std::string_view message;  // default client-safe message

  constexpr int status() const { return http_status(kind); }
  /// An Error with this code: `message` replaces the default when not empty; `detail` is logged
  /// only, never sent.
  Error error(std::string message = {}, std::string detail = {}) const {
    return Error{kind, std::string(name),
                 message.empty() ? std::string(this->message) : std::move(message),
                 std::move(detail)};
  }
};

// X(name, kind, default message). One line per API error name, alphabetical. A duplicate name does
// not compile (the constant k<name> would be defined twice).
#define SP_ERROR_CATALOGUE(X)                                                                     \
  X(AccountDisabled, kUnauthenticated, "This account is disabled.")                               \
  X(AuditActionNotApplicable, kUnprocessable, "This action does not apply to the finding.")       \
  X(AuditFindingNotFound, kNotFound, "No such audit finding.")                                    \
  X(AuditRunNotFound, kNotFound, "No such audit run.")                                            \
  X(AuditRunning, kConflict, "An audit run is running; try again when it has finished.")          \
  X(BackupFailed, kUnprocessable, "The instance cannot be backed up.")                            \
  X(BackupNotFound, kNotFound, "No such backup.")                                                 \
  X(BackupRunning, kConflict, "A backup is running; try again when it has finished.")             \
  X(BadRequest, kBadRequest, "The request is malformed.")                                         \
  X(CaAlreadyRegistered, kConflict, "This CA is already registered.")                             \
  X(CaDeregistered, kConflict, "The CA is deregistered.")                                         \
  X(CaFileWriteFailed, kUnavailable, "Cannot install the CA certificate.")                        \
  X(CaNameTaken, kConflict, "Another registered CA has this name.")                               \
  X(CaNotFound, kNotFound, "No such certificate authority.")                                      \
  X(CaNotManaged, kUnprocessable, "The platform does not hold the key of this CA.")               \
  X(CannotModifySelf, kConflict, "You cannot disable or demote your own account.")                \
  X(CatalogEntryExists, kConflict, "The catalog already has this entry.")                         \
  X(CatalogEntryNotFound, kNotFound, "No such catalog entry.")                                    \
  X(CertificateAlreadyRevoked, kConflict, "The certificate is already revoked.")                  \
  X(CertificateChainInvalid, kUnprocessable, "The certificate chain is not valid.")               \
  X(CertificateInvalid, kBadRequest, "The certificate is not valid PEM.")                         \
  X(CertificateNotFound, kNotFound, "No such certificate.")                                       \
  X(CertificateSignatureInvalid, kUnprocessable, "The certificate signature is not valid.")       \
  X(CertificateTooLarge, kPayloadTooLarge, "The certificate is too large.")                       \
  X(ChannelUnavailable, kUnavailable, "The notification channel is not available.")               \
  X(ClaimCodeRequired, kUnprocessable, "This device needs the claim code printed on it.")         \
  X(CommonNameInvalid, kUnprocessable, "The common name is not valid.")                           \
  X(CsrCommonNameMissing, kUnprocessable, "The CSR has no common name.")                          \
  X(CsrInvalid, kBadRequest, "The CSR is not valid PEM.")                                         \
  X(CsrKeyTooWeak, kUnprocessable, "The CSR key is too weak.")                                    \
  X(CsrSignatureInvalid, kUnprocessable, "The CSR is not signed by its own key.")                 \
  X(DatasetExists, kConflict, "A dataset with this name exists.")                                 \
  X(DatasetLimitReached, kUnprocessable, "The instance has as many datasets as it allows.")       \
  X(DatasetNotFound, kNotFound, "No such dataset.")                                               \
  X(DatasetRunLimit, kUnprocessable, "The dataset run went over a [datasets] limit.")             \
  X(DatasetRunNotFound, kNotFound, "No such dataset run, or its file has expired.")               \
  X(DatasetRunRunning, kConflict,                                                                 \
    "A run of this dataset is running; try again when it has finished.")                          \
  X(DeliveryNotDead, kConflict, "Only a dead delivery can be retried.")                           \
  X(DeviceAccessDenied, kForbidden, "The device belongs to another user.")                        \
  X(DeviceAlreadyDeleted, kConflict, "The device is already deleted.")                            \
  X(DeviceNotFoundFailure, kNotFound, "Manufacturer info cannot be found for this device.")       \
  X(DeviceRegisteredFailure, kConflict, "The device is already registered.")                      \
  X(DirectoryNotFound, kNotFound, "No such directory.")                                           \
  X(DnsNameInvalid, kUnprocessable, "A DNS name is not valid.")                                   \
  X(EmailNotVerified, kForbidden, "Please verify your email first.")                              \
  X(EmptyPatch, kUnprocessable, "Send enabled (true/false) or role (admin/user).")                \
  X(FileExists, kConflict, "The file already exists.")                                            \
  X(FileNotFound, kNotFound, "No such file.")                                                     \
  X(FileReadFailed, kUnprocessable, "The file cannot be read.")                                   \
  X(Forbidden, kForbidden, "This needs an administrator account.")                                \
  X(InternalError, kInternal, "internal server error")                                            \
  X(InvalidAggregation, kUnprocessable, "The aggregation is not valid.")                          \
  X(InvalidCaCertificate, kUnprocessable, "The CA certificate is not valid.")                     \
  X(InvalidCaName, kUnprocessable, "name must be 1 to 64 characters from A-Z a-z 0-9 . _ -.")     \
  X(InvalidCaStatus, kUnprocessable, "status must be ACTIVE or INACTIVE.")                        \
  X(InvalidCatalogEntry, kUnprocessable, "The catalog entry is not valid.")                       \
  X(InvalidClaimCode, kForbidden, "The claim code is wrong.")                                     \
  X(InvalidCode, kUnprocessable, "The code is wrong or has expired.")                             \
  X(InvalidCommandSchema, kUnprocessable, "The device model declares its commands wrongly.")      \
  X(InvalidCredentials, kUnauthenticated, "Email or password is wrong.")                          \
  X(InvalidCursor, kBadRequest, "lastevalkey is not a valid cursor.")                             \
  X(InvalidDatasetQuery, kUnprocessable, "The dataset query is not valid.")                       \
  X(InvalidDeviceId, kUnprocessable,                                                              \
    "deviceId must be 1 to 128 characters from A-Z a-z 0-9 : _ -.")                               \
  X(InvalidEmail, kUnprocessable, "The email address is not valid.")                              \
  X(InvalidField, kBadRequest, "A field has the wrong type.")                                     \
  X(InvalidJson, kBadRequest, "the request body is not valid JSON")                               \
  X(InvalidKey, kUnprocessable, "The key is invalid or unsupported.")                             \
  X(InvalidLimit, kUnprocessable, "limit must be an integer from 1 to 100.")                      \
  X(InvalidName, kUnprocessable, "Enter a name.")                                                 \
  X(InvalidParameter, kUnprocessable,                                                             \
    "Body parameters are invalid. Please check the API specification.")                           \
  X(InvalidPassword, kUnprocessable, "The password is not acceptable.")                           \
  X(InvalidPhone, kUnprocessable, "Enter the phone number in international format.")              \
  X(InvalidQuery, kUnprocessable, "A query parameter is not valid.")                              \
  X(InvalidRefreshToken, kUnauthenticated, "The session has expired; please log in again.")       \
  X(InvalidRegistration, kUnprocessable, "The registration is not valid.")                        \
  X(InvalidRequest, kBadRequest, "The request is not valid.")                                     \
  X(InvalidRole, kUnprocessable, "role must be admin or user.")                                   \
  X(InvalidSearchQuery, kUnprocessable, "The search query is not valid.")                         \
  X(InvalidSecurityProfile, kUnprocessable, "The security profiles are not valid.")               \
  X(InvalidSetting, kUnprocessable, "The setting is not valid.")                                  \
  X(InvalidShadowRequest, kBadRequest, "The shadow request is not valid.")                        \
  X(InvalidToken, kUnauthenticated, "The access token is not valid.")                             \
  X(InvalidWebhookUrl, kUnprocessable, "The webhook URL is not valid.")                           \
  X(IpAddressInvalid, kUnprocessable, "An IP address is not valid.")                              \
  X(IssuerMissing, kBadRequest, "An issuer is required.")                                         \
  X(IssuerNotCa, kUnprocessable, "The issuer certificate is not a CA.")                           \
  X(KeyExists, kConflict, "The key already exists.")                                              \
  X(KeyGenerationFailed, kInternal, "Key generation failed.")                                     \
  X(KeyIdConflict, kConflict, "A different key already uses this kid.")                           \
  X(KeyInvalid, kBadRequest, "The key is not valid PEM.")                                         \
  X(KeyMismatch, kUnprocessable, "The private key does not belong to the certificate.")           \
  X(KeyStoreError, kUnavailable, "The key store is not available.")                               \
  X(MailDeliveryFailed, kUnavailable, "Cannot send email.")                                       \
  X(ManagedCaExists, kConflict, "The managed CA already exists.")                                 \
  X(ManagedCaMismatch, kConflict, "The managed CA does not match.")                               \
  X(MethodNotAllowed, kMethodNotAllowed, "method not allowed")                                    \
  X(MissingCommand, kNotFound, "No such command.")                                                \
  X(MissingDelivery, kNotFound, "No such notification delivery.")                                 \
  X(MissingDevice, kNotFound, "No such device.")                                                  \
  X(MissingField, kUnprocessable, "A required field is missing.")                                 \
  X(MissingEvent, kNotFound, "No such event.")                                                    \
  X(MissingSetting, kNotFound, "No such setting.")                                                \
  X(NotFound, kNotFound, "no such resource")                                                      \
  X(NotQuarantined, kNotFound, "The device is not in quarantine.")                                \
  X(OrganizationInvalid, kUnprocessable, "The organization is not valid.")                        \
  X(PasswordHashUnavailable, kUnavailable, "The server is busy, try again.")                      \
  X(PasswordTooLong, kUnprocessable, "The password is too long.")                                 \
  X(PayloadTooLarge, kPayloadTooLarge, "the request body is too large")                           \
  X(PkiFailure, kInternal, "A certificate operation failed.")                                     \
  X(RegistrationCodeMismatch, kUnprocessable,                                                     \
    "The verification certificate's common name must be the registration code.")                  \
  X(RegistrationNotLive, kConflict, "The registration was deleted.")                              \
  X(ShadowCorrupted, kInternal, "A stored shadow could not be read.")                             \
  X(ShadowNotFound, kNotFound, "The device has no shadow.")                                       \
  X(ShadowServiceFailure, kInternal, "The shadow could not be processed.")                        \
  X(ShadowTooLarge, kPayloadTooLarge, "The shadow state document is larger than 8 KiB.")          \
  X(SigningFailed, kInternal, "Signing failed.")                                                  \
  X(SigningKeyMissing, kUnavailable, "No signing key is configured.")                             \
  X(StoreUnavailable, kUnavailable, "The database is busy or not available; try again.")          \
  X(TokenExpired, kUnauthenticated, "The token has expired.")                                     \
  X(TokenNotYetValid, kUnauthenticated, "The token is not valid yet.")                            \
  X(TooManyAttempts, kRateLimited, "Too many attempts; please wait and try again.")               \
  X(TooManyClaimAttempts, kRateLimited, "Too many wrong claim codes; please wait and try again.") \
  X(TooManyConnections, kRateLimited, "Too many live connections; try again later.")              \
  X(TooManySubscriptions, kRateLimited, "Too many live subscriptions on this connection.")        \
  X(Unauthorized, kUnauthenticated, "Sign in to use the API.")                                    \
  X(UnsupportedEncoding, kBadRequest, "The payload is not UTF-8 JSON.")                           \
  X(UnsupportedMediaType, kUnsupportedMediaType, "Content-Type must be application/json")         \
  X(UserAlreadyExists, kConflict, "An account with this email exists.")                           \
  X(UserNotFound, kNotFound, "No such user.")                                                     \
  X(ValidityInvalid, kUnprocessable, "The validity is not valid.")                                \
  X(VerificationSignatureInvalid, kUnprocessable,                                                 \
    "The verification certificate is not signed by the CA certificate's key.")                    \
  X(VersionConflict, kConflict, "The shadow has another version.")                                \
  X(WebSocketUpgradeRequired, kBadRequest, "Connect to this path with a WebSocket client.")

#define SP_ERROR_DECLARE_(name, kind, message) \
  inline constexpr Code k##name{#name, ErrorKind::kind, message};
SP_ERROR_CATALOGUE(SP_ERROR_DECLARE_)
#undef SP_ERROR_DECLARE_

/// Every entry, for lookups, the OpenAPI check and tests.
#define SP_ERROR_LIST_(name, kind, message) k##name,
inline constexpr Code kCatalogue[] = {SP_ERROR_CATALOGUE(SP_ERROR_LIST_)};
#undef SP_ERROR_LIST_

/// The entry named `name`, or nullptr when the name is not in the catalogue.
constexpr const Code* find(std::string_view name) {
  for (const Code& code : kCatalogue) {
    if (code.name == name) return &code;
  }
  return nullptr;
}

/// The API error for a store failure a service did not map to a domain error itself
/// (smartproduct/store/failure.hpp): an unavailable database becomes 503 StoreUnavailable,
/// anything else 500 InternalError; the store's code, description and cause go to `detail`
/// (logged, never sent). Other errors pass through unchanged.
inline Error from_store(Error e) {
  const auto failure = store::failure_of(e);
  if (!failure) return e;
  std::string detail = e.name + ": " + e.message;
  if (!e.detail.empty()) detail += " (" + e.detail + ")";
  if (*failure == store::Failure::kUnavailable) {
    return kStoreUnavailable.error({}, std::move(detail));
  }
  return kInternalError.error({}, std::move(detail));
}

}  // namespace sp::errors

namespace sp {

/// Shorthand for returning a catalogue error from a function that returns Result<T>. `message`
/// replaces the entry's default message when not empty.
inline tl::unexpected<Error> fail(const errors::Code& code, std::string message = {},
                                  std::string detail = {}) {
  return tl::unexpected<Error>(code.error(std::move(message), std::move(detail)));
}

}  // namespace sp
