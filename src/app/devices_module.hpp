#pragma once
// Composition of the devices module (registration, devices API, device certificates, security
// events): its repository over smartproduct.db, its service over the catalog of the access
// modules, and its routes. The JITR / broker side plugs in through DeviceHooks.

#include <memory>

#include "app/access.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/store/device_repository.hpp"
#include "store/sqlite/database.hpp"

namespace sp::app {

struct DevicesModule {
  std::unique_ptr<store::DeviceRepository> repo;
  std::unique_ptr<devices::DeviceService> service;
};

/// Builds the module and registers its routes on `router`. `access`, `clock` and `router` must
/// outlive the result; `hooks` may be empty.
Result<DevicesModule> build_devices_module(std::shared_ptr<sqlite::Database> main_db,
                                           Access& access, const Clock& clock, http::Router& router,
                                           devices::DeviceHooks hooks);

}  // namespace sp::app
