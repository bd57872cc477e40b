#pragma once
// Internal helpers shared by the pki translation units: RAII owners for OpenSSL objects, PEM
// (de)serialisation and error text. Not part of the public interface.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"

namespace sp::pki::detail {

template <auto Fn>
struct Deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Fn(p);
  }
};

using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;

/// Drains OpenSSL's thread-local error queue into one line (and clears it).
std::string openssl_errors();

/// An error of kind kInternal/kBadRequest... with the OpenSSL queue appended to `detail`.
tl::unexpected<Error> ossl_fail(ErrorKind kind, std::string name, std::string message);

BioPtr mem_bio(std::string_view data);
std::string bio_to_string(BIO* bio);

Result<X509Ptr> read_cert(std::string_view pem);
Result<PkeyPtr> read_key(std::string_view pem);
Result<std::string> cert_to_pem(X509* cert);
Result<std::string> key_to_pem(EVP_PKEY* key);

std::string to_hex_upper(const unsigned char* data, std::size_t len);

}  // namespace sp::pki::detail
