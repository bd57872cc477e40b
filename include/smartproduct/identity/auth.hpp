#pragma once
// Request authentication for every protected /api route. Modules wrap their handlers:
//
//   router.add("GET", "/api/devices", auth.protect([&](http::Request& r, const Principal& p)
//   {...}));
//
// The token comes from "Authorization: Bearer <jwt>" or the bare "<jwt>" (the seed's console sent
// it without the scheme). After the JWT checks (identity/jwt.hpp) the user row is read on every
// request (a primary-key lookup), so a disabled or deleted account is refused at once and a role
// change applies at once: the role and email of the Principal come from the row, not the token.
// Every refusal is a 401 JSON error with a WWW-Authenticate header.

#include <functional>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/service.hpp"
#include "smartproduct/identity/types.hpp"
#include "smartproduct/store/user_repository.hpp"

namespace sp::identity {

/// The authenticated caller of a request.
struct Principal {
  std::string user_id;
  std::string email;
  Role role = Role::kUser;
  bool is_admin() const { return role == Role::kAdmin; }
};

/// Extracts the token from an Authorization header value ("Bearer x", "bearer x" or "x"); nullopt
/// when the value is empty or has another scheme.
std::optional<std::string_view> token_from_authorization(std::string_view header);

using ProtectedHandler = std::function<http::Response(http::Request&, const Principal&)>;

class Authenticator {
 public:
  /// Both must outlive the authenticator. Thread-safe.
  Authenticator(const IdentityService& identity, store::UserRepository& users);

  /// Validates the request's token and the account behind it.
  Result<Principal> authenticate(const http::Request& request) const;

  /// Wraps a handler: 401 unless authenticated; stores the Principal in request.principal too.
  http::Handler protect(ProtectedHandler handler) const;
  /// As protect(), and 403 "Forbidden" unless the caller is an admin.
  http::Handler protect_admin(ProtectedHandler handler) const;

 private:
  const IdentityService& identity_;
  store::UserRepository& users_;
};

/// The Principal stored by protect() (nullptr outside protected handlers).
const Principal* principal_of(const http::Request& request);

/// The 401 response for an authentication error (adds WWW-Authenticate).
http::Response unauthorized(const Error& error);

}  // namespace sp::identity
