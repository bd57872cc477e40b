// The devices module: registrations, the user's devices, their certificates and security events.

#include "smartproduct/devices/module.hpp"

#include "smartproduct/catalog/service.hpp"
#include "smartproduct/devices/routes.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/identity/auth.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::devices {
namespace {

class DevicesModule final : public Module {
 public:
  std::string_view name() const override { return "devices"; }
  void configure(config::Section& section, const config::DaemonConfig&) override {
    section.finish();  // no keys yet
  }

  Result<void> build(ModuleContext& ctx) override {
    auto& auth = ctx.services.get<const identity::Authenticator>();
    auto& catalog = ctx.services.get<catalog::CatalogService>();
    auth_ = &auth;
    repo_ = sqlite::make_device_repository(ctx.store.main_ptr());
    service_ = std::make_unique<DeviceService>(*repo_, catalog, ctx.clock, ctx.bus);
    ctx.services.provide(*service_);
    ctx.services.provide<store::DeviceRepository>(*repo_);
    return {};
  }

  void register_routes(http::Router& router) override {
    add_device_routes(router, *service_, *auth_);
  }

 private:
  const identity::Authenticator* auth_ = nullptr;
  std::unique_ptr<store::DeviceRepository> repo_;
  std::unique_ptr<DeviceService> service_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<DevicesModule>(); }

}  // namespace sp::devices
