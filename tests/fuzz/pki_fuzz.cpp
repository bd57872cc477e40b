// libFuzzer target for the PEM / certificate / CSR parsing behind CA registration
// (split_pem_certificates, parse_certificate, verify_signed_by, verify_chain) and CSR signing
// (sign_csr). The first byte picks the form of the rest: 0 PEM text as given, 1 DER certificate,
// 2 DER CSR (wrapped into PEM here, so mutations reach the ASN.1 decoders rather than base64).
// Invariants: every parsed certificate has a 64-hex fingerprint; a CSR is only ever signed into
// a client certificate that parses, is no CA, names our CA as issuer and verifies with its key.

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smartproduct/pki/pki.hpp"

namespace {

using namespace sp::pki;

void check(bool ok) {
  if (!ok) std::abort();
}

const Issuer& issuer() {
  static const Issuer ca = [] {
    auto made = create_device_ca("Fuzz Device CA", 3650, "Acme");
    check(made.has_value());
    return Issuer{made->cert_pem, made->key_pem};
  }();
  return ca;
}

std::string pem(std::string_view der, const char* label) {
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                reinterpret_cast<const unsigned char*>(der.data()),
                                static_cast<int>(der.size()));
  b64.resize(static_cast<std::size_t>(n));
  std::string out = std::string("-----BEGIN ") + label + "-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END " + label + "-----\n";
}

bool is_fingerprint(const std::string& fp) {
  if (fp.size() != 64) return false;
  for (char c : fp) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& ca = issuer();
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string text;
  switch (data[0] % 3) {
    case 0:
      text = std::string(rest);
      break;
    case 1:
      text = pem(rest, "CERTIFICATE");
      break;
    default:
      text = pem(rest, "CERTIFICATE REQUEST");
      break;
  }

  // CA registration: a bundle, each certificate inspected, proof of possession, a chain.
  if (auto certs = split_pem_certificates(text)) {
    for (const auto& c : *certs) {
      auto info = parse_certificate(c);
      if (!info) continue;
      check(is_fingerprint(info->sha256_fingerprint));
      (void)verify_signed_by(c, ca.cert_pem);
      (void)verify_signed_by(ca.cert_pem, c);
    }
    if (!certs->empty()) (void)verify_chain(certs->front(), text, ca.cert_pem);
  }
  if (auto info = parse_certificate(text)) check(is_fingerprint(info->sha256_fingerprint));

  // CSR signing.
  if (auto signed_pem = sign_csr(ca, text, 30)) {
    auto info = parse_certificate(*signed_pem);
    check(info.has_value());
    check(!info->is_ca);
    auto ca_info = parse_certificate(ca.cert_pem);
    check(ca_info && info->issuer == ca_info->subject);
    check(verify_signed_by(*signed_pem, ca.cert_pem).has_value());
  }
  return 0;
}
