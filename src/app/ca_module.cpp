#include "app/ca_module.hpp"

#include "smartproduct/pki/ca_routes.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::app {

Result<CaModule> build_ca_module(std::shared_ptr<sqlite::Database> main_db, Access& access,
                                 const Clock& clock, http::Router& router,
                                 const config::JitrSettings& jitr, pki::CaHooks hooks) {
  if (!main_db) return fail(ErrorKind::kInternal, "CaModule", "the main database is not open");
  if (jitr.ca_dir.empty() || jitr.managed_ca_dir.empty()) {
    return fail(ErrorKind::kUnprocessable, "ConfigError",
                "[jitr] ca_dir and managed_ca_dir must be set");
  }
  CaModule m;
  m.repo = sqlite::make_ca_repository(std::move(main_db));
  m.service = std::make_unique<pki::CaService>(
      *m.repo, clock, pki::CaServiceConfig{jitr.ca_dir, jitr.managed_ca_dir}, std::move(hooks));
  pki::add_ca_routes(router, *m.service, access.authenticator());
  return m;
}

}  // namespace sp::app
