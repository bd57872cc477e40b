#include "smartproduct/identity/jws.hpp"

#include <gtest/gtest.h>

#include "smartproduct/identity/base64url.hpp"
#include "test_util.hpp"

namespace sp::identity {
namespace {

using nlohmann::json;

// ---- RFC 7515 Appendix A.3 (ES256) ----
// The JWK (A.3.1) and the complete JWS (A.3.1/A.3.2) are typed from the RFC text.
const json kRfc7515A3Jwk = {
    {"kty", "EC"},
    {"crv", "P-256"},
    {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
    {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
    {"d", "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"},
};
constexpr std::string_view kRfc7515A3Token =
    "eyJhbGciOiJFUzI1NiJ9"
    "."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    "."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

// ---- RFC 8037 Appendix A.1 (key), A.3 (thumbprint), A.4/A.5 (signature) ----
const json kRfc8037Jwk = {
    {"kty", "OKP"},
    {"crv", "Ed25519"},
    {"d", "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"},
    {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
};
constexpr std::string_view kRfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
constexpr std::string_view kRfc8037Payload = "Example of Ed25519 signing";
constexpr std::string_view kRfc8037Token =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

json public_only(json jwk) {
  jwk.erase("d");
  return jwk;
}

TEST(JwsRfc7515, A3VerifiesPublishedEs256Example) {
  auto key = VerificationKey::from_jwk(public_only(kRfc7515A3Jwk));
  ASSERT_TRUE(key.has_value()) << key.error().detail;
  EXPECT_EQ(key->algorithm(), Algorithm::kEs256);
  auto jws = verify_compact(kRfc7515A3Token, *key);
  ASSERT_TRUE(jws.has_value()) << jws.error().detail;
  EXPECT_EQ(jws->payload,
            "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");
  EXPECT_EQ(jws->header, json({{"alg", "ES256"}}));
}

TEST(JwsRfc7515, A3PrivateJwkMatchesAndSignsVerifiably) {
  auto signer = SigningKey::from_jwk(kRfc7515A3Jwk);
  ASSERT_TRUE(signer.has_value()) << signer.error().detail;
  auto verifier = VerificationKey::from_jwk(public_only(kRfc7515A3Jwk));
  ASSERT_TRUE(verifier.has_value());
  EXPECT_TRUE(signer->verification_key().same_key_as(*verifier));
  auto token = sign_compact(*signer, json::object(), "hello");
  ASSERT_TRUE(token.has_value());
  EXPECT_TRUE(verify_compact(*token, *verifier).has_value());
  // ECDSA signatures are R||S: 64 bytes, 86 base64url characters.
  EXPECT_EQ(token->substr(token->rfind('.') + 1).size(), 86u);
}

TEST(JwsRfc7515, A3ExportsTheSameCoordinates) {
  auto key = VerificationKey::from_jwk(public_only(kRfc7515A3Jwk));
  ASSERT_TRUE(key.has_value());
  const json jwk = key->to_jwk();
  EXPECT_EQ(jwk["kty"], "EC");
  EXPECT_EQ(jwk["crv"], "P-256");
  EXPECT_EQ(jwk["x"], kRfc7515A3Jwk["x"]);
  EXPECT_EQ(jwk["y"], kRfc7515A3Jwk["y"]);
  EXPECT_EQ(jwk["alg"], "ES256");
  EXPECT_EQ(jwk["use"], "sig");
  EXPECT_FALSE(jwk.contains("d"));
}

TEST(JwsRfc7515, A3TamperedSignatureIsRefused) {
  auto key = VerificationKey::from_jwk(public_only(kRfc7515A3Jwk));
  ASSERT_TRUE(key.has_value());
  for (std::size_t byte : {0u, 31u, 32u, 63u}) {
    const auto bad = test::flip_bit(kRfc7515A3Token, 2, byte, 0);
    auto r = verify_compact(bad, *key);
    ASSERT_FALSE(r.has_value()) << byte;
    EXPECT_EQ(r.error().kind, ErrorKind::kUnauthenticated);
    EXPECT_EQ(r.error().name, "InvalidToken");
  }
  EXPECT_FALSE(verify_compact(test::flip_bit(kRfc7515A3Token, 1, 5, 3), *key).has_value());
}

TEST(JwsRfc8037, A3Thumbprint) {
  auto key = VerificationKey::from_jwk(public_only(kRfc8037Jwk));
  ASSERT_TRUE(key.has_value()) << key.error().detail;
  EXPECT_EQ(key->thumbprint(), kRfc8037Thumbprint);
  EXPECT_EQ(key->kid(), kRfc8037Thumbprint);  // no kid in the JWK: thumbprint is the kid
}

TEST(JwsRfc8037, A4SignGivesPublishedSignature) {
  auto key = SigningKey::from_jwk(kRfc8037Jwk);
  ASSERT_TRUE(key.has_value()) << key.error().detail;
  EXPECT_EQ(key->algorithm(), Algorithm::kEdDsa);
  auto token = sign_compact(*key, json::object(), kRfc8037Payload);
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(*token, kRfc8037Token);
}

TEST(JwsRfc8037, A5VerifiesPublishedToken) {
  auto key = VerificationKey::from_jwk(public_only(kRfc8037Jwk));
  ASSERT_TRUE(key.has_value());
  auto jws = verify_compact(kRfc8037Token, *key);
  ASSERT_TRUE(jws.has_value()) << jws.error().detail;
  EXPECT_EQ(jws->payload, kRfc8037Payload);
  EXPECT_FALSE(verify_compact(test::flip_bit(kRfc8037Token, 2, 10, 7), *key).has_value());
  EXPECT_FALSE(verify_compact(test::flip_bit(kRfc8037Token, 1, 0, 0), *key).has_value());
}

TEST(Jws, RfcTokensRefusedWithTheOtherAlgorithmsKey) {
  auto ec = VerificationKey::from_jwk(public_only(kRfc7515A3Jwk));
  auto ed = VerificationKey::from_jwk(public_only(kRfc8037Jwk));
  ASSERT_TRUE(ec && ed);
  EXPECT_FALSE(verify_compact(kRfc7515A3Token, *ed).has_value());
  EXPECT_FALSE(verify_compact(kRfc8037Token, *ec).has_value());
}

class JwsRoundTrip : public ::testing::TestWithParam<Algorithm> {};

TEST_P(JwsRoundTrip, SignVerifyPemAndJwk) {
  auto key = SigningKey::generate(GetParam(), "k1");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->kid(), "k1");
  EXPECT_EQ(key->algorithm(), GetParam());
  auto token = sign_compact(*key, json{{"typ", "JWT"}}, "{\"a\":1}");
  ASSERT_TRUE(token.has_value());

  auto pub = key->verification_key();
  auto ok = verify_compact(*token, pub);
  ASSERT_TRUE(ok.has_value()) << ok.error().detail;
  EXPECT_EQ(ok->payload, "{\"a\":1}");
  EXPECT_EQ(ok->header["alg"], algorithm_name(GetParam()));

  // Private PEM round trip: same key, same signatures verify.
  const std::string pem = key->to_pem();
  EXPECT_NE(pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  auto reloaded = SigningKey::from_pem(pem, "k1");
  ASSERT_TRUE(reloaded.has_value()) << reloaded.error().detail;
  EXPECT_TRUE(reloaded->verification_key().same_key_as(pub));
  auto token2 = sign_compact(*reloaded, json::object(), "x");
  ASSERT_TRUE(token2.has_value());
  EXPECT_TRUE(verify_compact(*token2, pub).has_value());

  // Public PEM and JWK round trips.
  auto from_pem = VerificationKey::from_pem(pub.to_pem(), "k1");
  ASSERT_TRUE(from_pem.has_value());
  EXPECT_TRUE(from_pem->same_key_as(pub));
  auto from_jwk = VerificationKey::from_jwk(pub.to_jwk());
  ASSERT_TRUE(from_jwk.has_value()) << from_jwk.error().detail;
  EXPECT_TRUE(from_jwk->same_key_as(pub));
  EXPECT_EQ(from_jwk->kid(), "k1");
  EXPECT_TRUE(verify_compact(*token, *from_jwk).has_value());

  // A different key of the same type does not verify.
  auto other = SigningKey::generate(GetParam(), "k1");
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(other->verification_key().same_key_as(pub));
  EXPECT_FALSE(verify_compact(*token, other->verification_key()).has_value());
}

TEST_P(JwsRoundTrip, DefaultKidIsThumbprint) {
  auto key = SigningKey::generate(GetParam());
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->kid(), key->verification_key().thumbprint());
  EXPECT_EQ(key->kid().size(), 43u);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, JwsRoundTrip,
                         ::testing::Values(Algorithm::kEs256, Algorithm::kEdDsa),
                         [](const auto& info) { return std::string(algorithm_name(info.param)); });

TEST(Jws, SignCompactRefusesConflictingAlg) {
  auto key = SigningKey::generate(Algorithm::kEdDsa, "k");
  ASSERT_TRUE(key.has_value());
  EXPECT_FALSE(sign_compact(*key, json{{"alg", "ES256"}}, "x").has_value());
  EXPECT_FALSE(sign_compact(*key, json::array(), "x").has_value());
  EXPECT_TRUE(sign_compact(*key, json{{"alg", "EdDSA"}}, "x").has_value());
}

TEST(Jws, KidInHeaderMustMatchKey) {
  auto key = SigningKey::generate(Algorithm::kEs256, "right");
  ASSERT_TRUE(key.has_value());
  auto token = sign_compact(*key, json{{"kid", "wrong"}}, "x");
  ASSERT_TRUE(token.has_value());
  EXPECT_FALSE(verify_compact(*token, key->verification_key()).has_value());
}

// ---- key import refusals ----

TEST(JwsKeys, RefusesOtherKeyTypesFromPem) {
  for (const char* kind : {"RSA", "P-384", "X25519"}) {
    const std::string pem = test::other_private_pem(kind);
    auto r = SigningKey::from_pem(pem);
    ASSERT_FALSE(r.has_value()) << kind;
    EXPECT_EQ(r.error().name, "InvalidKey");
  }
}

TEST(JwsKeys, RefusesEncryptedPemWithoutPrompting) {
  auto key = SigningKey::generate(Algorithm::kEs256);
  ASSERT_TRUE(key.has_value());
  const std::string pem = test::encrypted_private_pem(*key, "secret-pass");
  EXPECT_NE(pem.find("ENCRYPTED"), std::string::npos);
  EXPECT_FALSE(SigningKey::from_pem(pem).has_value());
}

TEST(JwsKeys, RefusesGarbagePemAndPublicPemAsPrivate) {
  EXPECT_FALSE(SigningKey::from_pem("not a pem").has_value());
  EXPECT_FALSE(VerificationKey::from_pem("").has_value());
  auto key = SigningKey::generate(Algorithm::kEdDsa);
  ASSERT_TRUE(key.has_value());
  EXPECT_FALSE(SigningKey::from_pem(key->verification_key().to_pem()).has_value());
}

TEST(JwsKeys, RefusesBadJwks) {
  json j = public_only(kRfc7515A3Jwk);
  EXPECT_TRUE(VerificationKey::from_jwk(j).has_value());

  json bad = j;
  bad["crv"] = "P-384";
  EXPECT_FALSE(VerificationKey::from_jwk(bad).has_value());
  bad = j;
  bad["kty"] = "RSA";
  EXPECT_FALSE(VerificationKey::from_jwk(bad).has_value());
  bad = j;
  bad["alg"] = "EdDSA";
  EXPECT_FALSE(VerificationKey::from_jwk(bad).has_value());
  bad = j;
  bad["alg"] = "HS256";
  EXPECT_FALSE(VerificationKey::from_jwk(bad).has_value());
  bad = j;
  bad["use"] = "enc";
  EXPECT_FALSE(VerificationKey::from_jwk(bad).has_value());
  bad = j;
  bad["x"] = base64url_encode(std::string(31, 'A'));
  EXPECT_FALSE(VerificationKey::from_jwk(bad).has_value());
  bad = j;
  bad["x"] = std::string(j["x"]) + "=";
  EXPECT_FALSE(VerificationKey::from_jwk(bad).has_value());
  bad = j;  // a point not on the curve (y changed)
  bad["y"] = base64url_encode(std::string(32, '\x01'));
  EXPECT_FALSE(VerificationKey::from_jwk(bad).has_value());
  bad = j;
  bad["kid"] = 7;
  EXPECT_FALSE(VerificationKey::from_jwk(bad).has_value());
  EXPECT_FALSE(VerificationKey::from_jwk(json::array()).has_value());

  json ed = public_only(kRfc8037Jwk);
  ed["crv"] = "X25519";
  EXPECT_FALSE(VerificationKey::from_jwk(ed).has_value());
}

TEST(JwsKeys, RefusesPrivateJwkNotMatchingPublic) {
  const json other = SigningKey::generate(Algorithm::kEs256)->verification_key().to_jwk();
  json ec = kRfc7515A3Jwk;
  ec["x"] = other["x"];
  ec["y"] = other["y"];
  EXPECT_FALSE(SigningKey::from_jwk(ec).has_value());
  json ed = kRfc8037Jwk;
  ed["x"] = SigningKey::generate(Algorithm::kEdDsa)->verification_key().to_jwk()["x"];
  EXPECT_FALSE(SigningKey::from_jwk(ed).has_value());
  EXPECT_FALSE(SigningKey::from_jwk(public_only(kRfc8037Jwk)).has_value());  // no d
}

// ---- KeyRing ----

TEST(KeyRing, SignsWithActiveKeyAndVerifiesByKid) {
  KeyRing ring;
  EXPECT_FALSE(ring.sign(json::object(), "x").has_value());  // no key yet
  auto a = SigningKey::generate(Algorithm::kEs256, "a");
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(ring.set_signing_key(*a).has_value());
  auto token = ring.sign(json::object(), "payload");
  ASSERT_TRUE(token.has_value());
  auto v = ring.verify(*token);
  ASSERT_TRUE(v.has_value()) << v.error().detail;
  EXPECT_EQ(v->header["kid"], "a");
  EXPECT_EQ(v->payload, "payload");
}

TEST(KeyRing, RotationKeepsOldKeyVerifyingUntilRemoved) {
  KeyRing ring;
  auto old_key = SigningKey::generate(Algorithm::kEs256, "2024-01");
  auto new_key = SigningKey::generate(Algorithm::kEdDsa, "2024-02");
  ASSERT_TRUE(old_key && new_key);
  ASSERT_TRUE(ring.set_signing_key(*old_key).has_value());
  const auto old_token = ring.sign(json::object(), "old");
  ASSERT_TRUE(old_token.has_value());

  ASSERT_TRUE(ring.set_signing_key(*new_key).has_value());
  const auto new_token = ring.sign(json::object(), "new");
  ASSERT_TRUE(new_token.has_value());
  EXPECT_EQ(ring.kids(), (std::vector<std::string>{"2024-01", "2024-02"}));
  EXPECT_TRUE(ring.verify(*old_token).has_value());
  EXPECT_TRUE(ring.verify(*new_token).has_value());

  EXPECT_FALSE(ring.remove_verification_key("2024-02"));  // active signing key stays
  EXPECT_TRUE(ring.remove_verification_key("2024-01"));
  EXPECT_FALSE(ring.remove_verification_key("2024-01"));
  auto refused = ring.verify(*old_token);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().name, "InvalidToken");
  EXPECT_TRUE(ring.verify(*new_token).has_value());
}

TEST(KeyRing, KidConflictsAreRefused) {
  KeyRing ring;
  auto a = SigningKey::generate(Algorithm::kEs256, "same");
  auto b = SigningKey::generate(Algorithm::kEs256, "same");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ring.add_verification_key(a->verification_key()).has_value());
  EXPECT_TRUE(ring.add_verification_key(a->verification_key()).has_value());  // idempotent
  auto r = ring.add_verification_key(b->verification_key());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kConflict);
  EXPECT_FALSE(ring.set_signing_key(*b).has_value());
}

TEST(KeyRing, UnknownOrMissingKidIsRefused) {
  KeyRing ring;
  auto a = SigningKey::generate(Algorithm::kEdDsa, "a");
  auto stranger = SigningKey::generate(Algorithm::kEdDsa, "zzz");
  ASSERT_TRUE(a && stranger);
  ASSERT_TRUE(ring.set_signing_key(*a).has_value());
  auto foreign = sign_compact(*stranger, json{{"kid", "zzz"}}, "x");
  ASSERT_TRUE(foreign.has_value());
  EXPECT_FALSE(ring.verify(*foreign).has_value());
  // A stranger's token claiming the trusted kid fails the signature.
  auto claims_a = sign_compact(*stranger, json{{"kid", "a"}}, "x");
  ASSERT_TRUE(claims_a.has_value());
  EXPECT_FALSE(ring.verify(*claims_a).has_value());
  // Correctly signed but without kid.
  auto no_kid = sign_compact(*a, json::object(), "x");
  ASSERT_TRUE(no_kid.has_value());
  EXPECT_FALSE(ring.verify(*no_kid).has_value());
}

TEST(KeyRing, JwksExportsPublicKeysThatReimport) {
  KeyRing ring;
  auto a = SigningKey::generate(Algorithm::kEs256, "a");
  auto b = SigningKey::generate(Algorithm::kEdDsa, "b");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ring.set_signing_key(*a).has_value());
  ASSERT_TRUE(ring.set_signing_key(*b).has_value());
  const json jwks = ring.jwks();
  ASSERT_TRUE(jwks["keys"].is_array());
  ASSERT_EQ(jwks["keys"].size(), 2u);
  const json& ka = jwks["keys"][0];
  EXPECT_EQ(ka["kid"], "a");
  EXPECT_EQ(ka["kty"], "EC");
  EXPECT_EQ(ka["crv"], "P-256");
  EXPECT_EQ(ka["alg"], "ES256");
  EXPECT_EQ(ka["use"], "sig");
  EXPECT_TRUE(ka.contains("x") && ka.contains("y"));
  const json& kb = jwks["keys"][1];
  EXPECT_EQ(kb["kid"], "b");
  EXPECT_EQ(kb["kty"], "OKP");
  EXPECT_EQ(kb["crv"], "Ed25519");
  EXPECT_EQ(kb["alg"], "EdDSA");
  EXPECT_FALSE(kb.contains("y"));
  EXPECT_EQ(jwks.dump().find("\"d\""), std::string::npos);

  KeyRing other;
  for (const auto& k : jwks["keys"]) {
    auto key = VerificationKey::from_jwk(k);
    ASSERT_TRUE(key.has_value());
    ASSERT_TRUE(other.add_verification_key(*key).has_value());
  }
  auto token = ring.sign(json::object(), "x");
  ASSERT_TRUE(token.has_value());
  EXPECT_TRUE(other.verify(*token).has_value());
}

}  // namespace
}  // namespace sp::identity
