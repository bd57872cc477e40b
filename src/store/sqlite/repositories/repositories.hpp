#pragma once
// SQLite implementations of the repository interfaces in include/smartproduct/store/. Created by
// the composition root from an open Store; sqlite3.h stays inside the .cpp files.

#include <memory>

#include "smartproduct/store/account_repository.hpp"
#include "smartproduct/store/ca_repository.hpp"
#include "smartproduct/store/catalog_repository.hpp"
#include "smartproduct/store/device_repository.hpp"
#include "smartproduct/store/event_repository.hpp"
#include "smartproduct/store/presence_repository.hpp"
#include "smartproduct/store/settings_repository.hpp"
#include "smartproduct/store/shadow_repository.hpp"
#include "smartproduct/store/telemetry_repository.hpp"
#include "smartproduct/store/user_repository.hpp"
#include "store/sqlite/database.hpp"

namespace sp::sqlite {

std::unique_ptr<store::TelemetryRepository> make_telemetry_repository(
    std::shared_ptr<Database> telemetry_db);
std::unique_ptr<store::EventRepository> make_event_repository(std::shared_ptr<Database> main_db);
std::unique_ptr<store::PresenceRepository> make_presence_repository(
    std::shared_ptr<Database> main_db);

/// The identity module's storage: one object behind both interfaces (accounts live in
/// smartproduct.db next to the settings rows that delete_user() removes with them).
struct UserStore {
  std::shared_ptr<store::UserRepository> users;
  std::shared_ptr<store::AccountRepository> accounts;
};
UserStore make_user_repository(std::shared_ptr<Database> main_db);
std::unique_ptr<store::SettingsRepository> make_settings_repository(
    std::shared_ptr<Database> main_db);
/// The catalog module's storage (the seed's Reference table) in smartproduct.db.
std::unique_ptr<store::CatalogRepository> make_catalog_repository(
    std::shared_ptr<Database> main_db);
/// Registered device CAs and the broker plugin's enforcement state, in smartproduct.db.
std::unique_ptr<store::CaRepository> make_ca_repository(std::shared_ptr<Database> main_db);
/// The devices module's storage (registrations, device certificates, security events) in
/// smartproduct.db.
std::unique_ptr<store::DeviceRepository> make_device_repository(std::shared_ptr<Database> main_db);
/// The shadow module's storage (one classic shadow per device) in smartproduct.db.
std::unique_ptr<store::ShadowRepository> make_shadow_repository(std::shared_ptr<Database> main_db);

}  // namespace sp::sqlite
