// libFuzzer target for the JWS/JWT verifier (identity/jws.cpp, jwt.cpp): JwtService::validate
// against a KeyRing with an ES256 and an EdDSA key. The first byte picks how the rest is used:
//  0: as a token;
//  1: as edits (position, xor) to a token the ring itself issued;
//  2: as a new "header.payload" in front of a genuine signature.
// Invariant: whatever verifies carries exactly the claims of a token the ring issued (a token
// cannot be altered, re-headed or have its algorithm swapped and still verify). Crashes and
// sanitizer reports are findings too.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smartproduct/identity/jws.hpp"
#include "smartproduct/identity/jwt.hpp"

namespace {

using namespace sp::identity;

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr std::int64_t kNow = 1795815971;

struct Fixture {
  KeyRing ring;
  JwtService jwt{ring, JwtOptions{}, [] { return kNow; }};
  std::string es256_token;
  std::string eddsa_token;
  std::string es256_jti;
  std::string eddsa_jti;

  Fixture() {
    auto ed = SigningKey::generate(Algorithm::kEdDsa, "k-ed");
    check(ed.has_value());
    check(ring.set_signing_key(*ed).has_value());
    auto t2 = jwt.issue({"user-2", "b@example.com", "user", 3});
    check(t2.has_value());
    eddsa_token = t2->token;
    eddsa_jti = t2->jwt_id;
    auto es = SigningKey::generate(Algorithm::kEs256, "k-es");
    check(es.has_value());
    check(ring.set_signing_key(*es).has_value());
    auto t1 = jwt.issue({"user-1", "a@example.com", "admin", 7});
    check(t1.has_value());
    es256_token = t1->token;
    es256_jti = t1->jwt_id;
    check(jwt.validate(es256_token).has_value());
    check(jwt.validate(eddsa_token).has_value());
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void check_claims(const TokenClaims& c) {
  const auto& f = fixture();
  const bool first = c.jwt_id == f.es256_jti && c.subject == "user-1" && c.role == "admin" &&
                     c.generation == 7 && c.key_id == "k-es";
  const bool second = c.jwt_id == f.eddsa_jti && c.subject == "user-2" && c.role == "user" &&
                      c.generation == 3 && c.key_id == "k-ed";
  check(first || second);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& f = fixture();
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string token;
  switch (data[0] % 3) {
    case 0:
      token = std::string(rest);
      break;
    case 1: {
      token = (data[0] & 4) ? f.eddsa_token : f.es256_token;
      for (std::size_t i = 0; i + 1 < rest.size(); i += 2) {
        const auto pos = static_cast<unsigned char>(rest[i]) % (token.size() + 1);
        if (pos == token.size()) {
          token.push_back(rest[i + 1]);
        } else {
          token[pos] = static_cast<char>(token[pos] ^ rest[i + 1]);
        }
      }
      break;
    }
    default: {
      const std::string& genuine = (data[0] & 4) ? f.eddsa_token : f.es256_token;
      token = std::string(rest) + genuine.substr(genuine.rfind('.'));
      break;
    }
  }
  if (auto claims = f.jwt.validate(token)) check_claims(*claims);
  if (auto key = f.ring.find("k-es")) {
    if (auto v = verify_compact(token, *key)) check(v->header.is_object());
  }
  return 0;
}
