#include "app/devices_module.hpp"

#include "smartproduct/devices/routes.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::app {

Result<DevicesModule> build_devices_module(std::shared_ptr<sqlite::Database> main_db,
                                           Access& access, const Clock& clock, http::Router& router,
                                           devices::DeviceHooks hooks) {
  if (!main_db) {
    return fail(ErrorKind::kInternal, "DevicesModule", "the main database is not open");
  }
  DevicesModule m;
  m.repo = sqlite::make_device_repository(std::move(main_db));
  m.service =
      std::make_unique<devices::DeviceService>(*m.repo, access.catalog(), clock, std::move(hooks));
  devices::add_device_routes(router, *m.service, access.authenticator());
  return m;
}

}  // namespace sp::app
