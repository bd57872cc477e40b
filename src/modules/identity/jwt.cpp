#include "smartproduct/identity/jwt.hpp"

#include <algorithm>
#include <limits>

#include "json_strict.hpp"
#include "smartproduct/identity/secrets.hpp"

namespace sp::identity {
namespace {

tl::unexpected<Error> invalid_token(std::string detail) {
  return fail(ErrorKind::kUnauthenticated, "InvalidToken", "The token is invalid.",
              std::move(detail));
}

// NumericDate as an integer; floats, strings and out-of-range values are refused (we only ever
// issue integers, so anything else did not come from us).
std::optional<std::int64_t> numeric_date(const nlohmann::json& payload, const char* name) {
  const auto it = payload.find(name);
  if (it == payload.end()) return std::nullopt;
  if (it->is_number_integer() && !it->is_number_unsigned()) return it->get<std::int64_t>();
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 2)) {
      return static_cast<std::int64_t>(v);
    }
  }
  return std::nullopt;
}

// Saturating add so exp + leeway cannot overflow on hostile values.
std::int64_t add_sat(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return a + b;
}

}  // namespace

EpochClock system_epoch_clock() {
  return [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

JwtService::JwtService(const KeyRing& ring, JwtOptions options, EpochClock clock)
    : ring_(ring), options_(std::move(options)), clock_(std::move(clock)) {
  if (!clock_) clock_ = system_epoch_clock();
}

Result<IssuedToken> JwtService::issue(const TokenSubject& who) const {
  const std::int64_t now = clock_();
  IssuedToken out;
  out.jwt_id = generate_random_id(16);
  out.expires_at = now + options_.ttl.count();
  nlohmann::json payload = {
      {"iss", options_.issuer}, {"aud", options_.audience}, {"sub", who.subject},
      {"email", who.email},     {"role", who.role},         {"iat", now},
      {"exp", out.expires_at},  {"jti", out.jwt_id},        {"gen", who.generation},
  };
  if (options_.include_nbf) payload["nbf"] = now;
  auto token = ring_.sign(nlohmann::json{{"typ", "JWT"}}, payload.dump());
  if (!token) return tl::unexpected(token.error());
  out.token = std::move(*token);
  return out;
}

Result<TokenClaims> JwtService::validate(std::string_view token) const {
  if (token.size() > options_.max_token_bytes) return invalid_token("token too large");
  auto jws = ring_.verify(token);
  if (!jws) return tl::unexpected(jws.error());
  auto parsed = detail::parse_json_object(jws->payload);
  if (!parsed) return invalid_token("payload is not a JSON object");
  const nlohmann::json& p = *parsed;

  const auto get_string = [&](const char* name) -> std::optional<std::string> {
    const auto it = p.find(name);
    if (it == p.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };

  TokenClaims claims;
  claims.key_id = jws->header.value("kid", "");

  const auto iss = get_string("iss");
  if (!iss || *iss != options_.issuer) return invalid_token("wrong issuer");
  claims.issuer = *iss;

  const auto aud = p.find("aud");
  if (aud == p.end()) return invalid_token("missing audience");
  if (aud->is_string()) {
    claims.audience.push_back(aud->get<std::string>());
  } else if (aud->is_array()) {
    for (const auto& a : *aud) {
      if (!a.is_string()) return invalid_token("audience entry not a string");
      claims.audience.push_back(a.get<std::string>());
    }
  } else {
    return invalid_token("audience not a string or array");
  }
  if (std::find(claims.audience.begin(), claims.audience.end(), options_.audience) ==
      claims.audience.end()) {
    return invalid_token("wrong audience");
  }

  const auto sub = get_string("sub");
  if (!sub || sub->empty()) return invalid_token("missing subject");
  claims.subject = *sub;
  const auto role = get_string("role");
  if (!role) return invalid_token("missing role");
  claims.role = *role;
  if (p.contains("email")) {
    const auto email = get_string("email");
    if (!email) return invalid_token("email not a string");
    claims.email = *email;
  }
  if (p.contains("jti")) {
    const auto jti = get_string("jti");
    if (!jti) return invalid_token("jti not a string");
    claims.jwt_id = *jti;
  }

  if (p.contains("gen")) {
    const auto gen = numeric_date(p, "gen");  // a non-negative integer, as we issue it
    if (!gen || *gen < 0) return invalid_token("malformed gen");
    claims.generation = *gen;
  }

  const auto exp = numeric_date(p, "exp");
  if (!exp) return invalid_token("missing or malformed exp");
  const auto iat = numeric_date(p, "iat");
  if (!iat) return invalid_token("missing or malformed iat");
  std::optional<std::int64_t> nbf;
  if (p.contains("nbf")) {
    nbf = numeric_date(p, "nbf");
    if (!nbf) return invalid_token("malformed nbf");
  }
  claims.expires_at = *exp;
  claims.issued_at = *iat;
  claims.not_before = nbf;

  const std::int64_t now = clock_();
  const std::int64_t leeway = options_.leeway.count();
  if (now >= add_sat(*exp, leeway)) {
    return fail(ErrorKind::kUnauthenticated, "TokenExpired", "The token has expired.");
  }
  const std::int64_t latest = add_sat(now, leeway);
  if ((nbf && *nbf > latest) || *iat > latest) {
    return fail(ErrorKind::kUnauthenticated, "TokenNotYetValid", "The token is not valid yet.");
  }
  return claims;
}

}  // namespace sp::identity
