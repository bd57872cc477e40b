// Key generation and certificate issuance.

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "ossl.hpp"
#include "smartproduct/pki/pki.hpp"

namespace sp::pki {
namespace {

using namespace detail;

// Device serials (= CN) may have 128 characters, twice RFC 5280's ub-common-name (64). OpenSSL
// and mosquitto accept such names; CNs beyond 64 must be printable ASCII (see make_name).
constexpr std::size_t kMaxCommonName = 128;
constexpr std::size_t kRfcMaxCommonName = 64;
// Clients with slightly slow clocks would otherwise reject a certificate issued a moment ago.
constexpr long kBackdateSeconds = 300;

bool has_control_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
}

}  // namespace

bool is_valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::string_view rest = name;
  if (rest.starts_with("*.")) rest.remove_prefix(2);  // one leading wildcard label only
  std::size_t label_len = 0;
  for (char c : rest) {
    if (c == '.') {
      if (label_len == 0) return false;
      label_len = 0;
      continue;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
    if (++label_len > 63) return false;
  }
  return label_len > 0;
}

namespace {

Result<void> validate_request(const CertRequest& req) {
  if (req.common_name.empty() || req.common_name.size() > kMaxCommonName ||
      has_control_chars(req.common_name)) {
    return fail(ErrorKind::kUnprocessable, "CommonNameInvalid",
                "common name must be 1..128 characters without control characters");
  }
  if (req.organization.size() > kRfcMaxCommonName || has_control_chars(req.organization)) {
    return fail(ErrorKind::kUnprocessable, "OrganizationInvalid",
                "organization must be at most 64 characters without control characters");
  }
  if (req.days < kMinValidityDays || req.days > kMaxValidityDays) {
    return fail(ErrorKind::kUnprocessable, "ValidityInvalid",
                "validity must be between 1 and 36500 days");
  }
  for (const auto& dns : req.dns_names) {
    if (!is_valid_dns_name(dns)) {
      return fail(ErrorKind::kUnprocessable, "DnsNameInvalid", "invalid DNS name: " + dns);
    }
  }
  return {};
}

Result<void> set_random_serial(X509* cert) {
  unsigned char buf[16];
  // A positive, non-zero 127..128-bit value: the top bit is cleared so the DER INTEGER stays
  // positive without a padding byte; the loop excludes the (theoretical) all-zero draw.
  do {
    if (RAND_bytes(buf, sizeof buf) != 1) {
      return ossl_fail(ErrorKind::kInternal, "PkiFailure", "random generator failed");
    }
    buf[0] &= 0x7F;
  } while (std::all_of(std::begin(buf), std::end(buf), [](unsigned char b) { return b == 0; }));
  BnPtr bn{BN_bin2bn(buf, sizeof buf, nullptr)};
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot set serial number");
  }
  return {};
}

Result<NamePtr> make_name(std::string_view cn, std::string_view org) {
  NamePtr name{X509_NAME_new()};
  if (!name) return ossl_fail(ErrorKind::kInternal, "PkiFailure", "out of memory");
  auto add = [&](const char* field, std::string_view value) {
    return X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!org.empty() && !add("O", org)) {
    return ossl_fail(ErrorKind::kUnprocessable, "OrganizationInvalid", "invalid organization");
  }
  if (cn.size() > kRfcMaxCommonName) {
    // MBSTRING_* enforces the RFC bound; a plain UTF8String does not. Restricted to printable
    // ASCII so no unchecked byte sequence ends up in the name.
    const bool printable =
        std::all_of(cn.begin(), cn.end(), [](char c) { return c > 0x20 && c < 0x7F; });
    if (!printable || X509_NAME_add_entry_by_NID(name.get(), NID_commonName, V_ASN1_UTF8STRING,
                                                 reinterpret_cast<const unsigned char*>(cn.data()),
                                                 static_cast<int>(cn.size()), -1, 0) != 1) {
      return ossl_fail(ErrorKind::kUnprocessable, "CommonNameInvalid", "invalid common name");
    }
    return name;
  }
  if (!add("CN", cn)) {
    return ossl_fail(ErrorKind::kUnprocessable, "CommonNameInvalid", "invalid common name");
  }
  return name;
}

Result<void> add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext{X509V3_EXT_nconf_nid(nullptr, ctx, nid, value)};
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure",
                     std::string("cannot add extension ") + OBJ_nid2sn(nid));
  }
  return {};
}

// Built programmatically rather than from a "DNS:a,IP:b" config string so that a name can never
// smuggle extra entries in through a comma.
Result<void> add_subject_alt_names(X509* cert, const std::vector<std::string>& dns_names,
                                   const std::vector<std::string>& ips) {
  if (dns_names.empty() && ips.empty()) return {};
  GeneralNamesPtr gens{sk_GENERAL_NAME_new_null()};
  if (!gens) return ossl_fail(ErrorKind::kInternal, "PkiFailure", "out of memory");
  for (const auto& dns : dns_names) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* str = ASN1_IA5STRING_new();
    if (gn == nullptr || str == nullptr ||
        ASN1_STRING_set(str, dns.data(), static_cast<int>(dns.size())) != 1) {
      GENERAL_NAME_free(gn);
      ASN1_IA5STRING_free(str);
      return ossl_fail(ErrorKind::kInternal, "PkiFailure", "out of memory");
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, str);
    sk_GENERAL_NAME_push(gens.get(), gn);
  }
  for (const auto& ip : ips) {
    ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
    if (octets == nullptr) {
      openssl_errors();
      return fail(ErrorKind::kUnprocessable, "IpAddressInvalid", "invalid IP address: " + ip);
    }
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (gn == nullptr) {
      ASN1_OCTET_STRING_free(octets);
      return ossl_fail(ErrorKind::kInternal, "PkiFailure", "out of memory");
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, octets);
    sk_GENERAL_NAME_push(gens.get(), gn);
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot add subjectAltName");
  }
  return {};
}

struct LoadedIssuer {
  X509Ptr cert;
  PkeyPtr key;
};

Result<LoadedIssuer> load_issuer(const Issuer& issuer) {
  auto cert = read_cert(issuer.cert_pem);
  if (!cert) return tl::unexpected(cert.error());
  auto key = read_key(issuer.key_pem);
  if (!key) return tl::unexpected(key.error());
  if ((X509_get_extension_flags(cert->get()) & EXFLAG_CA) == 0) {
    return fail(ErrorKind::kUnprocessable, "IssuerNotCa", "issuer certificate is not a CA");
  }
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    return ossl_fail(ErrorKind::kUnprocessable, "KeyMismatch",
                     "issuer key does not match issuer certificate");
  }
  return LoadedIssuer{std::move(*cert), std::move(*key)};
}

// Builds and signs a certificate for `subject_key` (only its public half is used).
Result<std::string> build_certificate(const CertRequest& req, EVP_PKEY* subject_key,
                                      const LoadedIssuer* issuer) {
  if (auto ok = validate_request(req); !ok) return tl::unexpected(ok.error());
  const bool self_signed = req.profile == Profile::kRootCa || req.profile == Profile::kDeviceCa;
  if (!self_signed && issuer == nullptr) {
    return fail(ErrorKind::kBadRequest, "IssuerMissing", "an issuer is required");
  }

  X509Ptr cert{X509_new()};
  if (!cert) return ossl_fail(ErrorKind::kInternal, "PkiFailure", "out of memory");
  if (X509_set_version(cert.get(), 2) != 1) {  // v3
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot set version");
  }
  if (auto ok = set_random_serial(cert.get()); !ok) return tl::unexpected(ok.error());
  auto name = make_name(req.common_name, req.organization);
  if (!name) return tl::unexpected(name.error());
  X509_set_subject_name(cert.get(), name->get());
  X509_set_issuer_name(cert.get(),
                       self_signed ? name->get() : X509_get_subject_name(issuer->cert.get()));
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), req.days, 0, nullptr) == nullptr) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot set validity");
  }
  if (X509_set_pubkey(cert.get(), subject_key) != 1) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot set public key");
  }

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, self_signed ? cert.get() : issuer->cert.get(), cert.get(), nullptr, nullptr,
                 0);
  const bool is_ca = req.profile == Profile::kRootCa || req.profile == Profile::kIntermediateCa ||
                     req.profile == Profile::kDeviceCa;
  const bool rsa = EVP_PKEY_get_base_id(subject_key) == EVP_PKEY_RSA;
  const char* basic = req.profile == Profile::kRootCa ? "critical,CA:TRUE"
                      : is_ca                         ? "critical,CA:TRUE,pathlen:0"
                                                      : "critical,CA:FALSE";
  const char* usage = is_ca ? "critical,keyCertSign,cRLSign"
                      : rsa ? "critical,digitalSignature,keyEncipherment"
                            : "critical,digitalSignature";
  // SKI first: the authorityKeyIdentifier of a self-signed certificate is taken from it.
  for (auto [nid, value] : {std::pair{NID_basic_constraints, basic},
                            {NID_key_usage, usage},
                            {NID_subject_key_identifier, "hash"},
                            {NID_authority_key_identifier, "keyid:always"}}) {
    if (auto ok = add_ext(cert.get(), &ctx, nid, value); !ok) return tl::unexpected(ok.error());
  }
  if (req.profile == Profile::kServer || req.profile == Profile::kClient) {
    const char* eku = req.profile == Profile::kServer ? "serverAuth" : "clientAuth";
    if (auto ok = add_ext(cert.get(), &ctx, NID_ext_key_usage, eku); !ok) {
      return tl::unexpected(ok.error());
    }
    if (auto ok = add_subject_alt_names(cert.get(), req.dns_names, req.ip_addresses); !ok) {
      return tl::unexpected(ok.error());
    }
  }

  EVP_PKEY* signing_key = self_signed ? subject_key : issuer->key.get();
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) <= 0) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "signing failed");
  }
  return cert_to_pem(cert.get());
}

}  // namespace

Result<std::string> generate_ec_key() {
  PkeyPtr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")};
  if (!key) return ossl_fail(ErrorKind::kInternal, "PkiFailure", "key generation failed");
  return key_to_pem(key.get());
}

Result<CertAndKey> issue_certificate(const CertRequest& req, const Issuer* issuer) {
  std::optional<LoadedIssuer> loaded;
  if (req.profile != Profile::kRootCa && req.profile != Profile::kDeviceCa) {
    if (issuer == nullptr) {
      return fail(ErrorKind::kBadRequest, "IssuerMissing", "an issuer is required");
    }
    auto li = load_issuer(*issuer);
    if (!li) return tl::unexpected(li.error());
    loaded = std::move(*li);
  }
  std::string key_pem = req.key_pem;
  if (key_pem.empty()) {
    auto generated = generate_ec_key();
    if (!generated) return tl::unexpected(generated.error());
    key_pem = std::move(*generated);
  }
  auto key = read_key(key_pem);
  if (!key) return tl::unexpected(key.error());
  auto cert = build_certificate(req, key->get(), loaded ? &*loaded : nullptr);
  if (!cert) return tl::unexpected(cert.error());
  return CertAndKey{std::move(*cert), std::move(key_pem)};
}

Result<CertAndKey> create_root_ca(std::string common_name, int days, std::string organization) {
  CertRequest req;
  req.profile = Profile::kRootCa;
  req.common_name = std::move(common_name);
  req.organization = std::move(organization);
  req.days = days;
  return issue_certificate(req, nullptr);
}

Result<CertAndKey> create_device_ca(std::string common_name, int days, std::string organization) {
  CertRequest req;
  req.profile = Profile::kDeviceCa;
  req.common_name = std::move(common_name);
  req.organization = std::move(organization);
  req.days = days;
  return issue_certificate(req, nullptr);
}

Result<CertAndKey> issue_intermediate_ca(const Issuer& issuer, std::string common_name, int days,
                                         std::string organization) {
  CertRequest req;
  req.profile = Profile::kIntermediateCa;
  req.common_name = std::move(common_name);
  req.organization = std::move(organization);
  req.days = days;
  return issue_certificate(req, &issuer);
}

Result<CertAndKey> issue_server_cert(const Issuer& issuer, std::string common_name,
                                     std::vector<std::string> dns_names,
                                     std::vector<std::string> ip_addresses, int days) {
  CertRequest req;
  req.profile = Profile::kServer;
  req.common_name = std::move(common_name);
  req.dns_names = std::move(dns_names);
  req.ip_addresses = std::move(ip_addresses);
  req.days = days;
  return issue_certificate(req, &issuer);
}

Result<CertAndKey> issue_client_cert(const Issuer& issuer, std::string common_name, int days) {
  CertRequest req;
  req.profile = Profile::kClient;
  req.common_name = std::move(common_name);
  req.days = days;
  return issue_certificate(req, &issuer);
}

Result<std::string> create_csr(std::string_view key_pem, std::string_view common_name) {
  auto key = read_key(key_pem);
  if (!key) return tl::unexpected(key.error());
  if (common_name.empty() || common_name.size() > kMaxCommonName ||
      has_control_chars(common_name)) {
    return fail(ErrorKind::kUnprocessable, "CommonNameInvalid",
                "common name must be 1..128 characters without control characters");
  }
  ReqPtr req{X509_REQ_new()};
  auto name = make_name(common_name, {});
  if (!name) return tl::unexpected(name.error());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_subject_name(req.get(), name->get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key->get()) != 1 ||
      X509_REQ_sign(req.get(), key->get(), EVP_sha256()) <= 0) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot create CSR");
  }
  BioPtr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot encode CSR");
  }
  return bio_to_string(bio.get());
}

Result<std::string> sign_csr(const Issuer& issuer, std::string_view csr_pem, int days) {
  auto loaded = load_issuer(issuer);
  if (!loaded) return tl::unexpected(loaded.error());
  BioPtr bio = mem_bio(csr_pem);
  ReqPtr req{bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr};
  if (!req) return ossl_fail(ErrorKind::kBadRequest, "CsrInvalid", "not a PEM encoded CSR");
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  if (pub == nullptr) return ossl_fail(ErrorKind::kBadRequest, "CsrInvalid", "CSR has no key");
  if (X509_REQ_verify(req.get(), pub) != 1) {
    return ossl_fail(ErrorKind::kUnprocessable, "CsrSignatureInvalid",
                     "the CSR is not signed by its own key");
  }
  if (EVP_PKEY_get_security_bits(pub) < 112) {
    return fail(ErrorKind::kUnprocessable, "CsrKeyTooWeak", "the CSR key is too weak");
  }
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return fail(ErrorKind::kUnprocessable, "CsrCommonNameMissing", "CSR has no CN");
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
  const ossl::BytesPtr owner(utf8);
  if (len < 0) return ossl_fail(ErrorKind::kUnprocessable, "CommonNameInvalid", "bad CN encoding");
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  if (cn.find('\0') != std::string::npos) {
    return fail(ErrorKind::kUnprocessable, "CommonNameInvalid", "CN contains a NUL byte");
  }
  CertRequest cert_req;
  cert_req.profile = Profile::kClient;
  cert_req.common_name = std::move(cn);
  cert_req.days = days;
  return build_certificate(cert_req, pub, &*loaded);
}

}  // namespace sp::pki
