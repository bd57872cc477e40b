#pragma once
// Composition of the access modules (identity, settings, catalog, OpenAPI document): builds their
// repositories, keys, services and routes from the [identity] config. Kept out of daemon.cpp so
// that the daemon's module list stays one line per module.

#include <memory>

#include "smartproduct/catalog/service.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "store/sqlite/database.hpp"

namespace sp::app {

class Access {
 public:
  /// Loads (creating at first start) the signing keys and the code pepper under
  /// config.identity.keys_dir and registers the /api/auth, /api/admin, JWKS, settings and
  /// /api/openapi.json routes on `router`. `main_db` and `router` must outlive the result.
  static Result<std::unique_ptr<Access>> create(const config::DaemonConfig& config,
                                                std::shared_ptr<sqlite::Database> main_db,
                                                http::Router& router);
  ~Access();

  /// For the routes of other modules: `authenticator().protect(handler)`.
  const identity::Authenticator& authenticator() const;
  /// The reference catalog, for modules that check serial/model numbers (registration, JITR).
  catalog::CatalogService& catalog() const;
  /// SIGHUP: re-reads the key manifest (after `smartproductctl keys rotate`).
  void reload();

 private:
  struct Impl;
  explicit Access(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sp::app
