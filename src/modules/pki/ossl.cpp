#include "ossl.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

namespace sp::pki::detail {

std::string openssl_errors() {
  std::string out;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

tl::unexpected<Error> ossl_fail(ErrorKind kind, std::string name, std::string message) {
  return fail(kind, std::move(name), std::move(message), openssl_errors());
}

BioPtr mem_bio(std::string_view data) {
  // BIO_new_mem_buf takes an int length; PEM inputs are far below that, larger ones are refused
  // by the caller's size limits, and a null BIO is reported as a parse failure.
  if (data.size() > static_cast<std::size_t>(INT32_MAX)) return BioPtr{};
  return BioPtr{BIO_new_mem_buf(data.data(), static_cast<int>(data.size()))};
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(len));
}

Result<X509Ptr> read_cert(std::string_view pem) {
  BioPtr bio = mem_bio(pem);
  if (!bio) return ossl_fail(ErrorKind::kBadRequest, "CertificateInvalid", "certificate too large");
  X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
  if (!cert) {
    return ossl_fail(ErrorKind::kBadRequest, "CertificateInvalid",
                     "not a PEM encoded X.509 certificate");
  }
  return cert;
}

Result<PkeyPtr> read_key(std::string_view pem) {
  BioPtr bio = mem_bio(pem);
  if (!bio) return ossl_fail(ErrorKind::kBadRequest, "KeyInvalid", "key too large");
  // An empty passphrase callback result makes encrypted keys fail instead of prompting on a tty.
  PkeyPtr key{PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr)};
  if (!key) return ossl_fail(ErrorKind::kBadRequest, "KeyInvalid", "not a PEM encoded private key");
  return key;
}

Result<std::string> cert_to_pem(X509* cert) {
  BioPtr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot encode certificate");
  }
  return bio_to_string(bio.get());
}

Result<std::string> key_to_pem(EVP_PKEY* key) {
  BioPtr bio{BIO_new(BIO_s_mem())};
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot encode private key");
  }
  return bio_to_string(bio.get());
}

std::string to_hex_upper(const unsigned char* data, std::size_t len) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0x0F];
  }
  return out;
}

}  // namespace sp::pki::detail
