// The settings module: the seed's Settings rows (app config, per-user alert levels and SMS).

#include "smartproduct/settings/module.hpp"

#include <spdlog/spdlog.h>

#include "smartproduct/identity/auth.hpp"
#include "smartproduct/identity/events.hpp"
#include "smartproduct/settings/routes.hpp"
#include "smartproduct/settings/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::settings {
namespace {

class SettingsModule final : public Module {
 public:
  std::string_view name() const override { return "settings"; }
  void configure(config::Section& section, const config::DaemonConfig&) override {
    section.finish();  // no keys yet
  }

  Result<void> build(ModuleContext& ctx) override {
    auto& auth = ctx.services.get<const identity::Authenticator>();
    auth_ = &auth;
    repo_ = sqlite::make_settings_repository(ctx.store.main_ptr());
    service_ = std::make_unique<SettingsService>(*repo_, ctx.clock);
    ctx.bus.lane("settings").on<identity::UserVerified>([this](const identity::UserVerified& e) {
      if (auto r = service_->ensure_user_defaults(e.user_id); !r) {
        spdlog::error("settings: creating the defaults of {} failed: {}", e.user_id,
                      r.error().detail);
      }
    });
    return {};
  }

  void register_routes(http::Router& router) override {
    add_settings_routes(router, *service_, *auth_);
  }

 private:
  const identity::Authenticator* auth_ = nullptr;
  std::unique_ptr<store::SettingsRepository> repo_;
  std::unique_ptr<SettingsService> service_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<SettingsModule>(); }

}  // namespace sp::settings
