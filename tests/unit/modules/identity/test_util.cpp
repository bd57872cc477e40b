#include "test_util.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdexcept>
#include <vector>

#include "smartproduct/identity/base64url.hpp"

namespace sp::identity::test {

std::string forge(const SigningKey& key, std::string_view header_json,
                  std::string_view payload_json) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  auto sig = key.sign(input);
  if (!sig) throw std::runtime_error("sign failed");
  return input + "." + base64url_encode(*sig);
}

std::string forge_hs256(std::string_view secret, std::string_view header_json,
                        std::string_view payload_json) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac,
                &len) == nullptr) {
    throw std::runtime_error("hmac failed");
  }
  return input + "." + base64url_encode(std::string_view(reinterpret_cast<char*>(mac), len));
}

namespace {
std::string pem_private(EVP_PKEY* pkey, const EVP_CIPHER* cipher, std::string_view pass) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PKCS8PrivateKey(bio, pkey, cipher, pass.empty() ? nullptr : pass.data(),
                                static_cast<int>(pass.size()), nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}
}  // namespace

std::string other_private_pem(std::string_view kind) {
  EVP_PKEY* pkey = nullptr;
  if (kind == "RSA") pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048});
  if (kind == "P-384") pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  if (kind == "X25519") pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  if (pkey == nullptr) throw std::runtime_error("keygen failed");
  std::string out = pem_private(pkey, nullptr, {});
  EVP_PKEY_free(pkey);
  return out;
}

std::string encrypted_private_pem(const SigningKey& key, std::string_view passphrase) {
  const std::string plain = key.to_pem();
  BIO* bio = BIO_new_mem_buf(plain.data(), static_cast<int>(plain.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr) throw std::runtime_error("reparse failed");
  std::string out = pem_private(pkey, EVP_aes_256_cbc(), passphrase);
  EVP_PKEY_free(pkey);
  return out;
}

std::string flip_bit(std::string_view token, int index, std::size_t byte, int bit) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto dot = token.find('.', start);
    parts.emplace_back(token.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  auto raw = base64url_decode(parts.at(static_cast<std::size_t>(index)));
  if (!raw) throw std::runtime_error("segment not base64url");
  raw->at(byte) = static_cast<char>(raw->at(byte) ^ (1 << bit));
  parts[static_cast<std::size_t>(index)] = base64url_encode(*raw);
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += '.';
    out += parts[i];
  }
  return out;
}

}  // namespace sp::identity::test
