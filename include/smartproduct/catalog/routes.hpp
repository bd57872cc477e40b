#pragma once
// REST binding of the catalog module (admins only):
//   GET    /api/admin/catalog?limit=&lastevalkey=&modelNumber=
//   POST   /api/admin/catalog                              {deviceId, modelNumber, details?,
//   claimCode?} GET    /api/admin/catalog/{deviceId}/{modelNumber} DELETE
//   /api/admin/catalog/{deviceId}/{modelNumber}

#include "smartproduct/catalog/service.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"

namespace sp::catalog {

/// Registers the routes; `service` and `auth` must outlive the router.
void add_catalog_routes(http::Router& router, CatalogService& service,
                        const identity::Authenticator& auth);

}  // namespace sp::catalog
