// The catalog module: the reference catalog of manufactured devices (serial, model, claim code).

#include "smartproduct/catalog/module.hpp"

#include "smartproduct/catalog/routes.hpp"
#include "smartproduct/catalog/service.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/identity/secrets.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::catalog {
namespace {

class CatalogModule final : public Module {
 public:
  std::string_view name() const override { return "catalog"; }
  void configure(config::Section& section, const config::DaemonConfig&) override {
    section.finish();  // no keys yet
  }

  Result<void> build(ModuleContext& ctx) override {
    auto& auth = ctx.services.get<const identity::Authenticator>();
    auto& hasher = ctx.services.get<const identity::CodeHasher>();
    auth_ = &auth;
    repo_ = sqlite::make_catalog_repository(ctx.store.main_ptr());
    service_ = std::make_unique<CatalogService>(*repo_, ctx.clock, hasher);
    ctx.services.provide(*service_);
    return {};
  }

  void register_routes(http::Router& router) override {
    add_catalog_routes(router, *service_, *auth_);
  }

 private:
  const identity::Authenticator* auth_ = nullptr;
  std::unique_ptr<store::CatalogRepository> repo_;
  std::unique_ptr<CatalogService> service_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<CatalogModule>(); }

}  // namespace sp::catalog
