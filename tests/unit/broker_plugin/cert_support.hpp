#pragma once
// Certificate-making helpers shared by the plugin's OpenSSL tests (cert_info, trust).

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace sp::broker_plugin::test {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

inline KeyPtr ec_key() { return KeyPtr(EVP_EC_gen("P-256"), &EVP_PKEY_free); }

/// Adds an extension from its openssl config text (e.g. "hash", "keyid:always", "CA:TRUE").
inline void add_ext(X509* issuer, X509* subject, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, subject, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr);
  X509_add_ext(subject, ext, -1);
  X509_EXTENSION_free(ext);
}

}  // namespace sp::broker_plugin::test
