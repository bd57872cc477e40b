// The devices module: registrations, the user's devices, their certificates and security events.

#include "smartproduct/devices/module.hpp"

#include "smartproduct/catalog/service.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/devices/routes.hpp"
#include "smartproduct/devices/search.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/identity/auth.hpp"
#include "store/sqlite/repositories/claim_attempts.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::devices {
namespace {

class DevicesModule final : public Module {
 public:
  std::string_view name() const override { return "devices"; }
  void configure(config::Section& section, const config::DaemonConfig&) override {
    policy_.require_claim_code = section.boolean("require_claim_code", policy_.require_claim_code);
    policy_.max_failures_per_serial = static_cast<int>(section.integer(
        "max_claim_failures_per_serial", policy_.max_failures_per_serial, 1, 1000000));
    policy_.failure_window = std::chrono::seconds(
        section.integer("claim_failure_window_s", policy_.failure_window.count(), 1, 7 * 86400));
    section.finish();
  }

  Result<void> build(ModuleContext& ctx) override {
    auto& auth = ctx.services.get<const identity::Authenticator>();
    auto& catalog = ctx.services.get<catalog::CatalogService>();
    auth_ = &auth;
    repo_ = sqlite::make_device_repository(ctx.store.main_ptr());
    claim_attempts_ = sqlite::make_claim_attempt_counter(ctx.store.main_ptr());
    service_ = std::make_unique<DeviceService>(*repo_, catalog, ctx.clock, ctx.bus, policy_,
                                               claim_attempts_.get());
    search_repo_ = sqlite::make_fleet_search_repository(ctx.store.main_ptr());
    search_ = std::make_unique<FleetSearch>(*search_repo_);
    ctx.services.provide(*service_);
    ctx.services.provide<store::DeviceRepository>(*repo_);
    return {};
  }

  void register_routes(http::Router& router) override {
    add_device_routes(router, *service_, *search_, *auth_);
  }

 private:
  ClaimPolicy policy_;
  std::unique_ptr<ClaimAttemptCounter> claim_attempts_;
  const identity::Authenticator* auth_ = nullptr;
  std::unique_ptr<store::DeviceRepository> repo_;
  std::unique_ptr<DeviceService> service_;
  std::unique_ptr<store::FleetSearchRepository> search_repo_;
  std::unique_ptr<FleetSearch> search_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<DevicesModule>(); }

}  // namespace sp::devices
