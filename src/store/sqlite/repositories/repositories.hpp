#pragma once
// SQLite implementations of the repository interfaces in include/smartproduct/store/. Created by
// the composition root from an open Store; sqlite3.h stays inside the .cpp files.

#include <memory>
#include <optional>

#include "smartproduct/store/account_repository.hpp"
#include "smartproduct/store/alert_repository.hpp"
#include "smartproduct/store/ca_repository.hpp"
#include "smartproduct/store/catalog_repository.hpp"
#include "smartproduct/store/command_repository.hpp"
#include "smartproduct/store/device_repository.hpp"
#include "smartproduct/store/event_repository.hpp"
#include "smartproduct/store/fleet_search_repository.hpp"
#include "smartproduct/store/notification_repository.hpp"
#include "smartproduct/store/presence_repository.hpp"
#include "smartproduct/store/settings_repository.hpp"
#include "smartproduct/store/shadow_repository.hpp"
#include "smartproduct/store/spool_position_repository.hpp"
#include "smartproduct/store/telemetry_repository.hpp"
#include "smartproduct/store/user_repository.hpp"
#include "store/sqlite/database.hpp"

namespace sp::sqlite {

std::unique_ptr<store::TelemetryRepository> make_telemetry_repository(
    std::shared_ptr<Database> telemetry_db);
/// With `grouping`, each new event of an owned device also updates its alert group (and the
/// notification outbox) in the event's transaction; without, events are stored alone.
std::unique_ptr<store::EventRepository> make_event_repository(
    std::shared_ptr<Database> main_db, std::optional<alerts::Grouping> grouping = std::nullopt);
/// The alerts module's storage (events, alert groups, suppressions) in smartproduct.db.
std::unique_ptr<store::AlertRepository> make_alert_repository(std::shared_ptr<Database> main_db);
std::unique_ptr<store::TelemetryReader> make_telemetry_reader(std::shared_ptr<Database> telemetry_db);
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
/// The commands module's storage (commands; it writes their desired change to shadows) in
/// smartproduct.db.
std::unique_ptr<store::CommandRepository> make_command_repository(
    std::shared_ptr<Database> main_db);
/// Fleet search over registrations, presence and fleet_index in smartproduct.db. A query term
/// that selects fewer than `sparse_rows` devices is computed whole, a larger one checked per row.
std::unique_ptr<store::FleetSearchRepository> make_fleet_search_repository(
    std::shared_ptr<Database> main_db, std::int64_t sparse_rows = 2000);

/// The notifications module's storage (outbox, deliveries, channels, windows) in smartproduct.db.
std::unique_ptr<store::NotificationRepository> make_notification_repository(
    std::shared_ptr<Database> main_db);

/// The broker spool position of `db` (telemetry or main database).
std::unique_ptr<store::SpoolPositionRepository> make_spool_position_repository(
    std::shared_ptr<Database> db);

}  // namespace sp::sqlite
