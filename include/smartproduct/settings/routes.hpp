#pragma once
// REST binding of the settings module: GET/PUT /api/admin/settings/config/{settingId}.

#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/settings/service.hpp"

namespace sp::settings {

/// Registers the routes; `service` and `auth` must outlive the router.
void add_settings_routes(http::Router& router, SettingsService& service,
                         const identity::Authenticator& auth);

}  // namespace sp::settings
