#pragma once
// X.509 toolkit of the platform: EC P-256 keys, a self-signed root, intermediate (device) CAs, TLS
// server and client certificates, CSR signing, certificate inspection and chain checks.
//
// Everything crosses this interface as PEM text so that callers (CLI, JITR, CA registration, the
// simulator) never touch OpenSSL types. Implemented on OpenSSL 3 without deprecated APIs.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/result.hpp"

namespace sp::pki {

/// Validity bounds accepted by every issuing function (1 day .. 100 years).
inline constexpr int kMinValidityDays = 1;
inline constexpr int kMaxValidityDays = 36500;

/// A certificate and the private key that belongs to it, both PEM. `key_pem` is PKCS#8,
/// unencrypted: treat it as a secret (never log it; write it with write_key_file()).
struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

/// A CA able to sign: its certificate and its private key (PEM).
struct Issuer {
  std::string cert_pem;
  std::string key_pem;
};

/// What kind of certificate to build; decides basicConstraints, keyUsage and extendedKeyUsage.
enum class Profile {
  kRootCa,          ///< self-signed, CA:TRUE critical, keyCertSign+cRLSign
  kDeviceCa,        ///< self-signed, CA:TRUE pathlen:0 critical (issues leaves only)
  kIntermediateCa,  ///< signed by a CA, CA:TRUE pathlen:0 critical, keyCertSign+cRLSign
  kServer,          ///< CA:FALSE, digitalSignature, EKU serverAuth, SANs
  kClient,          ///< CA:FALSE, digitalSignature, EKU clientAuth
};

/// Parameters of a certificate to issue.
struct CertRequest {
  Profile profile = Profile::kClient;
  /// Required, 1..128 bytes, no control characters. Up to 64 any UTF-8; longer (device serials
  /// of up to 128, beyond RFC 5280's 64) only printable ASCII without spaces.
  std::string common_name;
  std::string organization;               ///< optional O= attribute
  std::vector<std::string> dns_names;     ///< subjectAltName DNS entries (kServer/kClient)
  std::vector<std::string> ip_addresses;  ///< subjectAltName IP entries, IPv4 or IPv6 text
  int days = 365;                         ///< validity; notBefore is backdated 5 minutes for skew
  /// Key to certify (PEM). Empty: a fresh P-256 key is generated and returned.
  std::string key_pem;
};

/// True for a host name usable as a subjectAltName DNS entry: dot-separated labels of letters,
/// digits, '-' and '_' (1..63 characters each, 253 in total), optionally starting with "*.".
bool is_valid_dns_name(std::string_view name);

/// Generates a new EC P-256 private key; returns it as unencrypted PKCS#8 PEM.
Result<std::string> generate_ec_key();

/// Issues a certificate for `req`. For Profile::kRootCa `issuer` is ignored (self-signed);
/// otherwise `issuer` must be a CA certificate with its matching key. Serials are 128-bit random;
/// subjectKeyIdentifier and authorityKeyIdentifier are always present.
Result<CertAndKey> issue_certificate(const CertRequest& req, const Issuer* issuer);

/// Convenience: self-signed root CA with a new key.
Result<CertAndKey> create_root_ca(std::string common_name, int days,
                                  std::string organization = "smartproduct");

/// Convenience: self-signed managed device CA with a new key, `pathlen:0`: it can sign device
/// certificates but no CA that would chain to it.
Result<CertAndKey> create_device_ca(std::string common_name, int days,
                                    std::string organization = "smartproduct");

/// Convenience: CA signed by `issuer` (e.g. a device CA), with a new key.
Result<CertAndKey> issue_intermediate_ca(const Issuer& issuer, std::string common_name, int days,
                                         std::string organization = "smartproduct");

/// Convenience: TLS server certificate (EKU serverAuth) with DNS and IP subjectAltNames.
Result<CertAndKey> issue_server_cert(const Issuer& issuer, std::string common_name,
                                     std::vector<std::string> dns_names,
                                     std::vector<std::string> ip_addresses, int days);

/// Convenience: TLS client certificate (EKU clientAuth) with the given CN.
Result<CertAndKey> issue_client_cert(const Issuer& issuer, std::string common_name, int days);

/// Creates a PKCS#10 CSR (PEM) with subject CN=`common_name`, signed by `key_pem`.
/// Used by the simulator and tests; devices normally bring their own.
Result<std::string> create_csr(std::string_view key_pem, std::string_view common_name);

/// Signs a CSR (PEM) as a client certificate (EKU clientAuth). The CSR's self-signature is verified
/// first and its CN becomes the certificate's CN; other requested attributes and extensions are
/// ignored. Keys weaker than 112 bits of security are refused. Returns the certificate PEM.
Result<std::string> sign_csr(const Issuer& issuer, std::string_view csr_pem, int days);

/// What the platform needs to know about a certificate.
struct CertInfo {
  std::string subject;                    ///< RFC 2253 DN, e.g. "CN=dev-1,O=smartproduct"
  std::string common_name;                ///< empty when the subject has no CN
  std::string issuer;                     ///< RFC 2253 DN
  std::string serial_hex;                 ///< uppercase hex, no leading zeros, no colons
  std::string sha256_fingerprint;         ///< uppercase hex of SHA-256 over the DER, no colons
  std::int64_t not_before = 0;            ///< epoch seconds
  std::int64_t not_after = 0;             ///< epoch seconds
  bool is_ca = false;                     ///< basicConstraints CA:TRUE
  std::string subject_key_id;             ///< uppercase hex; empty when absent
  std::string authority_key_id;           ///< uppercase hex (keyIdentifier); empty when absent
  std::vector<std::string> dns_names;     ///< subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  ///< subjectAltName IP entries, canonical text
};

/// Parses the first certificate of a PEM text.
Result<CertInfo> parse_certificate(std::string_view cert_pem);

/// Splits a PEM bundle into its certificates (each re-encoded as PEM), in order.
Result<std::vector<std::string>> split_pem_certificates(std::string_view pem_bundle);

/// True (ok) when `cert_pem` carries a valid signature by the key of `ca_cert_pem`. Only the
/// signature is checked (no names, dates or purposes): this is the proof-of-possession primitive.
/// Error kUnprocessable "CertificateSignatureInvalid" when it does not verify.
Result<void> verify_signed_by(std::string_view cert_pem, std::string_view ca_cert_pem);

/// Full path validation with OpenSSL (X509_verify_cert): `leaf_pem` (first certificate of the text)
/// against the trusted `roots_pem` bundle, using `untrusted_pem` (may be empty) as intermediates.
/// Checks signatures, validity dates and CA constraints. Error kUnprocessable
/// "CertificateChainInvalid" with the OpenSSL reason in the message.
Result<void> verify_chain(std::string_view leaf_pem, std::string_view untrusted_pem,
                          std::string_view roots_pem);

/// True (ok) when `key_pem` is the private key of `cert_pem`.
/// Error kUnprocessable "KeyMismatch" otherwise.
Result<void> check_key_matches(std::string_view cert_pem, std::string_view key_pem);

/// How an existing destination file is treated by the file writers.
enum class Overwrite { kNever, kAllow };

/// Writes `content` to `path` atomically (temporary file in the same directory, fsync, rename) with
/// permission bits `mode`. With Overwrite::kNever an existing file is never replaced (the final
/// step is link(2), which fails atomically if the name exists): error kConflict "FileExists".
Result<void> write_file_atomic(const std::string& path, std::string_view content, unsigned mode,
                               Overwrite overwrite);

/// Writes a private key with mode 0600. Refuses (kConflict "KeyExists") to replace an existing file
/// unless `force`.
Result<void> write_key_file(const std::string& path, std::string_view key_pem, bool force);

/// Writes a certificate (or any public PEM) with mode 0644, replacing an existing file atomically.
Result<void> write_cert_file(const std::string& path, std::string_view cert_pem);

/// Reads a whole file (for PEM files; refuses files over 1 MiB). kNotFound "FileNotFound" if
/// absent.
Result<std::string> read_file(const std::string& path);

/// Maintains OpenSSL "hashed directory" links in a capath directory, like `openssl rehash DIR`:
/// every regular file ending in .pem/.crt/.cer holding a certificate gets a symlink
/// `<subject-hash>.<n>` (X509_NAME_hash_ex). Works incrementally: correct links are kept, missing
/// ones added (via rename, so a reader never sees a half-made link), stale hash links removed, so
/// a live broker never loses a CA that stays. Duplicate certificates get one link. Returns the
/// number of certificates linked.
Result<int> rehash_directory(const std::string& dir);

/// Subject-name hash of a certificate as OpenSSL prints it (`openssl x509 -hash`), 8 hex digits.
Result<std::string> subject_hash(std::string_view cert_pem);

}  // namespace sp::pki
