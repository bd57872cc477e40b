#include "smartproduct/identity/auth.hpp"

namespace sp::identity {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

tl::unexpected<Error> invalid_token(std::string detail) {
  return fail(ErrorKind::kUnauthenticated, "InvalidToken", "The access token is not valid.",
              std::move(detail));
}

}  // namespace

std::optional<std::string_view> token_from_authorization(std::string_view header) {
  header = trim(header);
  if (header.empty()) return std::nullopt;
  const auto space = header.find(' ');
  if (space == std::string_view::npos) {
    // The bare token (the seed's console); "Bearer" alone is a scheme without a token.
    if (iequals(header, "bearer")) return std::nullopt;
    return header;
  }
  if (!iequals(header.substr(0, space), "bearer")) return std::nullopt;
  auto token = trim(header.substr(space + 1));
  if (token.empty() || token.find(' ') != std::string_view::npos) return std::nullopt;
  return token;
}

Authenticator::Authenticator(const IdentityService& identity, store::UserRepository& users)
    : identity_(identity), users_(users) {}

Result<Principal> Authenticator::authenticate(const http::Request& request) const {
  const auto header = request.header("authorization");
  if (!header || trim(*header).empty()) {
    return fail(ErrorKind::kUnauthenticated, "Unauthorized", "Sign in to use the API.");
  }
  const auto token = token_from_authorization(*header);
  if (!token) return invalid_token("unsupported Authorization scheme");
  auto claims = identity_.authenticate(*token);
  if (!claims) return tl::unexpected(claims.error());
  auto user = users_.find_user_by_id(claims->subject);
  if (!user) return tl::unexpected(user.error());
  if (!*user) return invalid_token("the account no longer exists");
  if (!(*user)->enabled) {
    return fail(ErrorKind::kUnauthenticated, "AccountDisabled", "This account is disabled.");
  }
  // A password change or reset moves the account to a new token generation: every token issued
  // before is refused here, cached or not (the cache holds the token's claims, this is the row).
  if (claims->generation != (*user)->token_generation) {
    return invalid_token("issued before the account's last password change or reset");
  }
  return Principal{(*user)->id, (*user)->email, (*user)->role};
}

http::Response unauthorized(const Error& error) {
  auto response = http::Response::error(error);
  if (error.kind == ErrorKind::kUnauthenticated) {
    response.set_header("www-authenticate", "Bearer realm=\"smartproduct\"");
  }
  return response;
}

http::Handler Authenticator::protect(ProtectedHandler handler) const {
  return [this, handler = std::move(handler)](http::Request& request) {
    auto who = authenticate(request);
    if (!who) return unauthorized(who.error());
    auto principal = std::make_shared<const Principal>(std::move(*who));
    request.principal = principal;
    return handler(request, *principal);
  };
}

http::Handler Authenticator::protect_admin(ProtectedHandler handler) const {
  return protect([handler = std::move(handler)](http::Request& request, const Principal& who) {
    if (!who.is_admin()) {
      return http::Response::error(ErrorKind::kForbidden, "Forbidden",
                                   "This needs an administrator account.");
    }
    return handler(request, who);
  });
}

const Principal* principal_of(const http::Request& request) {
  // Only protect() stores a principal, and it always stores a Principal.
  return static_cast<const Principal*>(request.principal.get());
}

}  // namespace sp::identity
