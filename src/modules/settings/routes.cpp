#include "smartproduct/settings/routes.hpp"

namespace sp::settings {
namespace {

Caller caller_of(const identity::Principal& p) { return Caller{p.user_id, p.is_admin()}; }

}  // namespace

void add_settings_routes(http::Router& router, SettingsService& service,
                         const identity::Authenticator& auth) {
  const std::string path = "/api/admin/settings/config/{settingId}";
  router.add("GET", path,
             auth.protect([&service](http::Request& req, const identity::Principal& who) {
               auto row = service.get(caller_of(who), req.param("settingId"));
               if (!row) return http::Response::error(row.error());
               return http::Response::json(200, to_json(*row));
             }));
  router.add("PUT", path,
             auth.protect([&service](http::Request& req, const identity::Principal& who) {
               auto body = http::parse_json_object(req);
               // Authorisation first: someone else's row is 403 whatever the body says.
               if (!who.is_admin() && who.user_id != req.param("settingId")) {
                 return http::Response::error(errors::kForbidden,
                                              "You may only access your own settings.");
               }
               if (!body) return http::Response::error(body.error());
               auto row = service.put(caller_of(who), req.param("settingId"), *body);
               if (!row) return http::Response::error(row.error());
               return http::Response::json(200, to_json(*row));
             }));
}

}  // namespace sp::settings
