#pragma once
// REST binding of the identity module (DESIGN.md §7 errors):
//   /api/auth/{signup,verify,verify/resend,login,refresh,logout,me,password/change,
//              password/forgot,password/reset}
//   /api/.well-known/jwks.json
//   /api/admin/users[/{id}], /api/admin/audit   (admins only)
// The refresh token is also set as the cookie sp_refresh (HttpOnly; Secure; SameSite=Strict;
// Path=/api/auth) so the console never handles it in script.

#include <functional>
#include <string>

#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/accounts.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/identity/config.hpp"
#include "smartproduct/identity/jws.hpp"
#include "smartproduct/identity/limits.hpp"
#include "smartproduct/identity/mail_outbox.hpp"
#include "smartproduct/identity/service.hpp"
#include "smartproduct/store/user_repository.hpp"

namespace sp::identity {

inline constexpr const char* kRefreshCookie = "sp_refresh";

struct IdentityRoutesDeps {
  IdentityService* identity = nullptr;
  AccountService* accounts = nullptr;
  store::UserRepository* users = nullptr;  // failed-login counters, for Retry-After
  const Authenticator* auth = nullptr;
  const KeyRing* keys = nullptr;
  AccountMailWorker* mail = nullptr;  // account mail goes out through its outbox
  /// The request limits of the unauthenticated routes (null: none).
  RequestLimiter* limiter = nullptr;
  IdentityConfig config;
  EpochClock clock;
  /// Called before tokens are issued and before the JWKS is served (picks up rotated keys).
  std::function<void()> refresh_keys;
  /// Called after an account's email is verified (the settings module creates its defaults row).
  std::function<void(const std::string& user_id)> on_verified;
};

/// Registers the routes; everything in `deps` must outlive the router.
void add_identity_routes(http::Router& router, IdentityRoutesDeps deps);

/// Parses the sp_refresh cookie from a Cookie header value.
std::optional<std::string> refresh_cookie(std::string_view cookie_header);

}  // namespace sp::identity
