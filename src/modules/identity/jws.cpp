#include "smartproduct/identity/jws.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <mutex>

#include "json_strict.hpp"
#include "smartproduct/core/openssl_ptr.hpp"
#include "smartproduct/identity/base64url.hpp"

namespace sp::identity {

namespace detail {
struct KeyMaterial {
  explicit KeyMaterial(EVP_PKEY* k) : owner(k), pkey(k) {}
  ossl::PkeyPtr owner;
  EVP_PKEY* pkey;  // owner.get(), named for the many call sites
};
}  // namespace detail

namespace {

using detail::KeyMaterial;

constexpr std::size_t kCoordBytes = 32;  // P-256 field/order size and Ed25519 key size
constexpr std::size_t kSignatureBytes = 64;
constexpr std::size_t kMaxKidBytes = 128;

using ossl::BioPtr;
using ossl::EcdsaSigPtr;
using ossl::MdCtxPtr;
using ossl::PkeyCtxPtr;
using ossl::PkeyPtr;
// Every BIGNUM here is cleared when freed: some hold private scalars, and clearing the others
// costs nothing measurable.
using BnPtr = ossl::SecretBnPtr;

// Failures leave entries in OpenSSL's per-thread error queue; clear them so a later, unrelated
// ERR_get_error() in the same thread does not report our stale failure.
struct ErrClearGuard {
  ~ErrClearGuard() { ERR_clear_error(); }
};

tl::unexpected<Error> invalid_token(std::string detail) {
  return fail(ErrorKind::kUnauthenticated, "InvalidToken", "The token is invalid.",
              std::move(detail));
}

tl::unexpected<Error> invalid_key(std::string detail) {
  return fail(ErrorKind::kUnprocessable, "InvalidKey", "The key is invalid or unsupported.",
              std::move(detail));
}

const unsigned char* uc(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Decides the algorithm from the key itself; anything but P-256 and Ed25519 is unsupported.
std::optional<Algorithm> algorithm_of(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "ED25519")) return Algorithm::kEdDsa;
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[80] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1) {
      return std::nullopt;  // e.g. explicit curve parameters
    }
    if (OBJ_txt2nid(group) == NID_X9_62_prime256v1) return Algorithm::kEs256;
  }
  return std::nullopt;
}

std::optional<std::string> ec_coordinate(EVP_PKEY* pkey, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) return std::nullopt;
  BnPtr bn(raw);
  std::string out(kCoordBytes, '\0');
  if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), kCoordBytes) !=
      static_cast<int>(kCoordBytes)) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> ed25519_public(EVP_PKEY* pkey) {
  std::string out(kCoordBytes, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != kCoordBytes) {
    return std::nullopt;
  }
  return out;
}

// The public JWK members in RFC 7638 order (lexicographic), so dump() gives the thumbprint input.
nlohmann::json public_members(EVP_PKEY* pkey, Algorithm alg) {
  nlohmann::json jwk = nlohmann::json::object();
  if (alg == Algorithm::kEs256) {
    jwk["crv"] = "P-256";
    jwk["kty"] = "EC";
    jwk["x"] = base64url_encode(ec_coordinate(pkey, OSSL_PKEY_PARAM_EC_PUB_X).value_or(""));
    jwk["y"] = base64url_encode(ec_coordinate(pkey, OSSL_PKEY_PARAM_EC_PUB_Y).value_or(""));
  } else {
    jwk["crv"] = "Ed25519";
    jwk["kty"] = "OKP";
    jwk["x"] = base64url_encode(ed25519_public(pkey).value_or(""));
  }
  return jwk;
}

std::string thumbprint_of(EVP_PKEY* pkey, Algorithm alg) {
  const std::string canonical = public_members(pkey, alg).dump();
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  unsigned int len = 0;
  EVP_Digest(canonical.data(), canonical.size(), digest.data(), &len, EVP_sha256(), nullptr);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), len));
}

bool valid_kid(std::string_view kid) {
  if (kid.empty() || kid.size() > kMaxKidBytes) return false;
  return std::all_of(kid.begin(), kid.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

std::string pem_of(EVP_PKEY* pkey, bool is_private) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  const int ok =
      is_private ? PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr)
                 : PEM_write_bio_PUBKEY(bio.get(), pkey);
  if (ok != 1) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<std::size_t>(len));
  if (is_private) OPENSSL_cleanse(data, static_cast<std::size_t>(len));
  return out;
}

// Never prompt on a terminal for an encrypted PEM: the daemon must fail, not hang.
int no_password(char*, int, int, void*) { return -1; }

// Builds a P-256 key from affine coordinates (and optionally the private scalar). The point is
// checked to be on the curve; a private scalar is checked against the public point.
Result<PkeyPtr> ec_key_from_raw(const std::string& x, const std::string& y, const std::string* d) {
  ErrClearGuard clear;
  if (x.size() != kCoordBytes || y.size() != kCoordBytes) return invalid_key("bad EC coordinate");
  ossl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  const std::string point = std::string(1, '\x04') + x + y;  // SEC1 uncompressed
  BnPtr priv;
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return invalid_key("param build");
  }
  if (d != nullptr) {
    if (d->size() != kCoordBytes) return invalid_key("bad EC private scalar");
    priv.reset(BN_secure_new());
    if (!priv || BN_bin2bn(uc(*d), static_cast<int>(d->size()), priv.get()) == nullptr ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) != 1) {
      return invalid_key("param build");
    }
  }
  ossl::ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, d != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                        params.get()) != 1) {
    return invalid_key("EC point rejected");
  }
  PkeyPtr pkey(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return invalid_key("EC point invalid");
  if (d != nullptr &&
      (EVP_PKEY_private_check(check.get()) != 1 || EVP_PKEY_pairwise_check(check.get()) != 1)) {
    return invalid_key("EC private key does not match public key");
  }
  return pkey;
}

struct ParsedJwk {
  PkeyPtr pkey;
  Algorithm alg;
  std::string kid;
};

Result<ParsedJwk> parse_jwk(const nlohmann::json& jwk, bool want_private) {
  if (!jwk.is_object()) return invalid_key("JWK is not an object");
  const auto str = [&](const char* name) -> std::optional<std::string> {
    const auto it = jwk.find(name);
    if (it == jwk.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const auto bytes = [&](const char* name) -> std::optional<std::string> {
    const auto s = str(name);
    if (!s) return std::nullopt;
    return base64url_decode(*s);
  };
  for (const char* name : {"kty", "crv", "alg", "use", "kid", "x", "y", "d"}) {
    if (jwk.contains(name) && !jwk[name].is_string()) return invalid_key("JWK member not a string");
  }
  const auto kty = str("kty");
  const auto crv = str("crv");
  if (const auto use = str("use"); use && *use != "sig") return invalid_key("JWK use is not sig");

  ParsedJwk out{nullptr, Algorithm::kEs256, {}};
  if (kty == "EC" && crv == "P-256") {
    out.alg = Algorithm::kEs256;
    const auto x = bytes("x");
    const auto y = bytes("y");
    if (!x || !y) return invalid_key("JWK x/y missing or not base64url");
    std::optional<std::string> d;
    if (want_private) {
      d = bytes("d");
      if (!d) return invalid_key("JWK d missing or not base64url");
    }
    auto key = ec_key_from_raw(*x, *y, d ? &*d : nullptr);
    if (d) OPENSSL_cleanse(d->data(), d->size());
    if (!key) return tl::unexpected(key.error());
    out.pkey = std::move(*key);
  } else if (kty == "OKP" && crv == "Ed25519") {
    ErrClearGuard clear;
    out.alg = Algorithm::kEdDsa;
    const auto x = bytes("x");
    if (!x || x->size() != kCoordBytes) return invalid_key("JWK x missing or wrong size");
    if (want_private) {
      auto d = bytes("d");
      if (!d || d->size() != kCoordBytes) return invalid_key("JWK d missing or wrong size");
      out.pkey.reset(
          EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, uc(*d), d->size()));
      OPENSSL_cleanse(d->data(), d->size());
      if (!out.pkey) return invalid_key("Ed25519 private key rejected");
      if (ed25519_public(out.pkey.get()) != x) {
        return invalid_key("Ed25519 private key does not match public key");
      }
    } else {
      out.pkey.reset(
          EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, uc(*x), x->size()));
      if (!out.pkey) return invalid_key("Ed25519 public key rejected");
    }
  } else {
    return invalid_key("unsupported kty/crv");
  }
  if (const auto alg = str("alg"); alg && *alg != algorithm_name(out.alg)) {
    return invalid_key("JWK alg does not match key type");
  }
  if (const auto kid = str("kid")) {
    if (!valid_kid(*kid)) return invalid_key("bad kid");
    out.kid = *kid;
  } else {
    out.kid = thumbprint_of(out.pkey.get(), out.alg);
  }
  return out;
}

Result<std::string> resolve_kid(std::string kid, EVP_PKEY* pkey, Algorithm alg) {
  if (kid.empty()) return thumbprint_of(pkey, alg);
  if (!valid_kid(kid)) return invalid_key("bad kid");
  return kid;
}

// A compact JWS split and decoded, with the header checked against our whitelist. Says nothing
// yet about the signature.
struct ParsedCompact {
  nlohmann::json header;
  std::string alg;
  std::optional<std::string> kid;
  std::string_view signing_input;
  std::string payload_b64;
  std::string signature;
};

Result<ParsedCompact> parse_compact(std::string_view token) {
  if (token.size() > kMaxTokenBytes) return invalid_token("token too large");
  const auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return invalid_token("not three segments");
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return invalid_token("not three segments");
  }
  ParsedCompact out;
  const auto header_raw = base64url_decode(token.substr(0, dot1));
  if (!header_raw) return invalid_token("header is not base64url");
  auto header = detail::parse_json_object(*header_raw);
  if (!header) return invalid_token("header is not a JSON object");
  out.header = std::move(*header);
  // Whitelist, not blacklist: "crit" would oblige us to understand extensions, "jwk"/"jku"/"x5u"/
  // "x5c" would let the token name its own key. We understand none of them, so none is allowed.
  for (const auto& [name, value] : out.header.items()) {
    if (name == "alg" || name == "kid" || name == "typ") {
      if (!value.is_string()) return invalid_token("header member not a string");
    } else {
      return invalid_token("header parameter not allowed");
    }
  }
  if (!out.header.contains("alg")) return invalid_token("missing alg");
  out.alg = out.header["alg"].get<std::string>();
  if (out.header.contains("kid")) out.kid = out.header["kid"].get<std::string>();
  if (out.header.contains("typ")) {
    std::string typ = out.header["typ"].get<std::string>();
    std::transform(typ.begin(), typ.end(), typ.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (typ != "JWT") return invalid_token("typ is not JWT");
  }
  out.signing_input = token.substr(0, dot2);
  out.payload_b64 = std::string(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!signature) return invalid_token("signature is not base64url");
  out.signature = std::move(*signature);
  return out;
}

Result<VerifiedJws> finish_verify(ParsedCompact parsed, const VerificationKey& key) {
  // The key decides the algorithm. The header may only confirm it.
  if (parsed.alg != algorithm_name(key.algorithm())) {
    return invalid_token("alg does not match the key's algorithm");
  }
  if (parsed.kid && *parsed.kid != key.kid()) return invalid_token("kid does not match the key");
  if (!key.verify_signature(parsed.signing_input, parsed.signature)) {
    return invalid_token("bad signature");
  }
  auto payload = base64url_decode(parsed.payload_b64);
  if (!payload) return invalid_token("payload is not base64url");
  return VerifiedJws{std::move(parsed.header), std::move(*payload)};
}

}  // namespace

std::string_view algorithm_name(Algorithm alg) {
  return alg == Algorithm::kEs256 ? "ES256" : "EdDSA";
}

// ---- VerificationKey ----

Result<VerificationKey> VerificationKey::from_pem(std::string_view pem, std::string kid) {
  ErrClearGuard clear;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return invalid_key("BIO");
  PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_password, nullptr));
  if (!pkey) return invalid_key("not a public key PEM");
  const auto alg = algorithm_of(pkey.get());
  if (!alg) return invalid_key("unsupported key type (need P-256 or Ed25519)");
  auto resolved = resolve_kid(std::move(kid), pkey.get(), *alg);
  if (!resolved) return tl::unexpected(resolved.error());
  return VerificationKey(std::make_shared<const KeyMaterial>(pkey.release()), *alg,
                         std::move(*resolved));
}

Result<VerificationKey> VerificationKey::from_jwk(const nlohmann::json& jwk) {
  auto parsed = parse_jwk(jwk, /*want_private=*/false);
  if (!parsed) return tl::unexpected(parsed.error());
  return VerificationKey(std::make_shared<const KeyMaterial>(parsed->pkey.release()), parsed->alg,
                         std::move(parsed->kid));
}

nlohmann::json VerificationKey::to_jwk() const {
  nlohmann::json jwk = public_members(key_->pkey, alg_);
  jwk["kid"] = kid_;
  jwk["alg"] = algorithm_name(alg_);
  jwk["use"] = "sig";
  return jwk;
}

std::string VerificationKey::to_pem() const { return pem_of(key_->pkey, false); }

std::string VerificationKey::thumbprint() const { return thumbprint_of(key_->pkey, alg_); }

bool VerificationKey::same_key_as(const VerificationKey& other) const {
  // Copies share their key material: the per-request token cache check needs no key comparison.
  if (key_ == other.key_) return alg_ == other.alg_;
  return alg_ == other.alg_ && EVP_PKEY_eq(key_->pkey, other.key_->pkey) == 1;
}

bool VerificationKey::verify_signature(std::string_view signing_input,
                                       std::string_view signature) const {
  ErrClearGuard clear;
  if (signature.size() != kSignatureBytes) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  if (alg_ == Algorithm::kEdDsa) {
    return EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key_->pkey,
                                   nullptr) == 1 &&
           EVP_DigestVerify(ctx.get(), uc(signature), signature.size(), uc(signing_input),
                            signing_input.size()) == 1;
  }
  // JWS carries ECDSA as fixed-width R||S (RFC 7518 §3.4); OpenSSL wants DER ECDSA-Sig-Value.
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BnPtr r(BN_bin2bn(uc(signature), kCoordBytes, nullptr));
  BnPtr s(BN_bin2bn(uc(signature.substr(kCoordBytes)), kCoordBytes, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return false;
  r.release();  // owned by sig now
  s.release();
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) return false;
  const ossl::BytesPtr der_owner(der);
  return EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key_->pkey,
                                 nullptr) == 1 &&
         EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_len), uc(signing_input),
                          signing_input.size()) == 1;
}

// ---- SigningKey ----

Result<SigningKey> SigningKey::generate(Algorithm alg, std::string kid) {
  ErrClearGuard clear;
  PkeyPtr pkey(alg == Algorithm::kEs256 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                        : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!pkey) return fail(ErrorKind::kInternal, "KeyGenerationFailed", "Key generation failed.");
  auto resolved = resolve_kid(std::move(kid), pkey.get(), alg);
  if (!resolved) return tl::unexpected(resolved.error());
  return SigningKey(std::make_shared<const KeyMaterial>(pkey.release()), alg, std::move(*resolved));
}

Result<SigningKey> SigningKey::from_pem(std::string_view pem, std::string kid) {
  ErrClearGuard clear;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return invalid_key("BIO");
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (!pkey) return invalid_key("not an unencrypted private key PEM");
  const auto alg = algorithm_of(pkey.get());
  if (!alg) return invalid_key("unsupported key type (need P-256 or Ed25519)");
  auto resolved = resolve_kid(std::move(kid), pkey.get(), *alg);
  if (!resolved) return tl::unexpected(resolved.error());
  return SigningKey(std::make_shared<const KeyMaterial>(pkey.release()), *alg,
                    std::move(*resolved));
}

Result<SigningKey> SigningKey::from_jwk(const nlohmann::json& jwk) {
  auto parsed = parse_jwk(jwk, /*want_private=*/true);
  if (!parsed) return tl::unexpected(parsed.error());
  return SigningKey(std::make_shared<const KeyMaterial>(parsed->pkey.release()), parsed->alg,
                    std::move(parsed->kid));
}

VerificationKey SigningKey::verification_key() const {
  // Export only the public half so a VerificationKey never holds private material.
  ErrClearGuard clear;
  EVP_PKEY* pub = nullptr;
  if (alg_ == Algorithm::kEdDsa) {
    const auto raw = ed25519_public(key_->pkey).value_or(std::string(kCoordBytes, '\0'));
    pub = EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, uc(raw), raw.size());
  } else {
    unsigned char* der = nullptr;
    const int len = i2d_PUBKEY(key_->pkey, &der);
    const ossl::BytesPtr der_owner(der);
    if (len > 0) {
      const unsigned char* p = der;
      pub = d2i_PUBKEY(nullptr, &p, len);
    }
  }
  if (pub == nullptr) throw std::runtime_error("cannot extract public key");  // a bug, not input
  return VerificationKey(std::make_shared<const KeyMaterial>(pub), alg_, kid_);
}

std::string SigningKey::to_pem() const { return pem_of(key_->pkey, true); }

Result<std::string> SigningKey::sign(std::string_view signing_input) const {
  ErrClearGuard clear;
  const auto failed = [] { return fail(ErrorKind::kInternal, "SigningFailed", "Signing failed."); };
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return failed();
  if (alg_ == Algorithm::kEdDsa) {
    std::string sig(kSignatureBytes, '\0');
    std::size_t len = sig.size();
    if (EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key_->pkey, nullptr) !=
            1 ||
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       uc(signing_input), signing_input.size()) != 1 ||
        len != kSignatureBytes) {
      return failed();
    }
    return sig;
  }
  std::size_t len = 0;
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key_->pkey, nullptr) !=
          1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, uc(signing_input), signing_input.size()) != 1) {
    return failed();
  }
  std::string der(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                     uc(signing_input), signing_input.size()) != 1) {
    return failed();
  }
  const unsigned char* p = uc(der);
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
  if (!sig) return failed();
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(kSignatureBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, o, kCoordBytes) != static_cast<int>(kCoordBytes) ||
      BN_bn2binpad(s, o + kCoordBytes, kCoordBytes) != static_cast<int>(kCoordBytes)) {
    return failed();
  }
  return out;
}

// ---- compact serialization ----

Result<std::string> sign_compact(const SigningKey& key, nlohmann::json header,
                                 std::string_view payload) {
  if (!header.is_object()) {
    return fail(ErrorKind::kInternal, "SigningFailed", "Signing failed.", "header not object");
  }
  const std::string alg(algorithm_name(key.algorithm()));
  if (header.contains("alg") && header["alg"] != alg) {
    return fail(ErrorKind::kInternal, "SigningFailed", "Signing failed.",
                "header alg does not match key");
  }
  header["alg"] = alg;
  std::string input = base64url_encode(header.dump()) + "." + base64url_encode(payload);
  auto sig = key.sign(input);
  if (!sig) return tl::unexpected(sig.error());
  input += '.';
  input += base64url_encode(*sig);
  return input;
}

Result<VerifiedJws> verify_compact(std::string_view token, const VerificationKey& key) {
  auto parsed = parse_compact(token);
  if (!parsed) return tl::unexpected(parsed.error());
  return finish_verify(std::move(*parsed), key);
}

// ---- KeyRing ----

Result<void> KeyRing::add_verification_key(VerificationKey key) {
  std::unique_lock lock(mu_);
  if (const auto it = keys_.find(key.kid()); it != keys_.end()) {
    if (it->second.same_key_as(key)) return {};
    return fail(ErrorKind::kConflict, "KeyIdConflict", "A different key already uses this kid.");
  }
  keys_.emplace(key.kid(), std::move(key));
  return {};
}

bool KeyRing::remove_verification_key(std::string_view kid) {
  std::unique_lock lock(mu_);
  if (signing_ && signing_->kid() == kid) return false;
  const auto it = keys_.find(kid);
  if (it == keys_.end()) return false;
  keys_.erase(it);
  return true;
}

Result<void> KeyRing::set_signing_key(SigningKey key) {
  auto pub = key.verification_key();
  std::unique_lock lock(mu_);
  if (const auto it = keys_.find(pub.kid()); it != keys_.end()) {
    if (!it->second.same_key_as(pub)) {
      return fail(ErrorKind::kConflict, "KeyIdConflict", "A different key already uses this kid.");
    }
  } else {
    keys_.emplace(pub.kid(), std::move(pub));
  }
  signing_ = std::move(key);
  return {};
}

std::optional<SigningKey> KeyRing::signing_key() const {
  std::shared_lock lock(mu_);
  return signing_;
}

std::optional<VerificationKey> KeyRing::find(std::string_view kid) const {
  std::shared_lock lock(mu_);
  const auto it = keys_.find(kid);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> KeyRing::kids() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [kid, key] : keys_) out.push_back(kid);
  return out;
}

Result<std::string> KeyRing::sign(nlohmann::json header, std::string_view payload) const {
  auto key = signing_key();
  if (!key) {
    return fail(ErrorKind::kUnavailable, "SigningKeyMissing", "No signing key is configured.");
  }
  if (!header.is_object()) header = nlohmann::json::object();
  header["kid"] = key->kid();
  return sign_compact(*key, std::move(header), payload);
}

Result<VerifiedJws> KeyRing::verify(std::string_view token) const {
  auto parsed = parse_compact(token);
  if (!parsed) return tl::unexpected(parsed.error());
  if (!parsed->kid) return invalid_token("missing kid");
  const auto key = find(*parsed->kid);
  if (!key) return invalid_token("unknown kid");
  return finish_verify(std::move(*parsed), *key);
}

nlohmann::json KeyRing::jwks() const {
  std::shared_lock lock(mu_);
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& [kid, key] : keys_) keys.push_back(key.to_jwk());
  return nlohmann::json{{"keys", std::move(keys)}};
}

}  // namespace sp::identity
