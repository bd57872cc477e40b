#pragma once
// Internal helpers shared by the pki translation units: the RAII owners for OpenSSL objects, PEM
// (de)serialisation and error text. Not part of the public interface.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "smartproduct/core/openssl_ptr.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::pki::detail {

// The owners are the shared ones (smartproduct/core/openssl_ptr.hpp).
using ossl::BioPtr;
using ossl::BnPtr;
using ossl::ExtPtr;
using ossl::GeneralNamesPtr;
using ossl::NamePtr;
using ossl::PkeyPtr;
using ossl::ReqPtr;
using ossl::StoreCtxPtr;
using ossl::StorePtr;
using ossl::X509Ptr;
using ossl::X509StackPtr;

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
