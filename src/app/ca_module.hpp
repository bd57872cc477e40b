#pragma once
// Composition of the certificate-authority module (registered device CAs, /api/admin/cas): its
// repository over smartproduct.db, its service over the [jitr] directories, and its routes. The
// broker side (the plugin's disableCa / enableCa) plugs in through pki::CaHooks.

#include <memory>

#include "app/access.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/pki/ca_service.hpp"
#include "smartproduct/store/ca_repository.hpp"
#include "store/sqlite/database.hpp"

namespace sp::app {

struct CaModule {
  std::unique_ptr<store::CaRepository> repo;
  std::unique_ptr<pki::CaService> service;
};

/// Builds the module and registers its routes on `router`. `access`, `clock` and `router` must
/// outlive the result; `hooks` may be empty.
Result<CaModule> build_ca_module(std::shared_ptr<sqlite::Database> main_db, Access& access,
                                 const Clock& clock, http::Router& router,
                                 const config::JitrSettings& jitr, pki::CaHooks hooks);

}  // namespace sp::app
