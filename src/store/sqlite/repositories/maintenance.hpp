#pragma once
// SQLite implementations for the daemon's housekeeping: telemetry retention and space, and the
// administrators system events are addressed to. Kept apart from repositories.hpp so that adding
// here does not rebuild every module.

#include <memory>
#include <string>
#include <vector>

#include "smartproduct/store/telemetry_maintenance.hpp"
#include "store/sqlite/database.hpp"

namespace sp::sqlite {

/// Retention and space of telemetry.db (bounded jobs on its writer).
std::unique_ptr<store::TelemetryMaintenance> make_telemetry_maintenance(
    std::shared_ptr<Database> telemetry_db);
/// The SQL the maintenance jobs run (tests check their query plans use the indexes).
std::vector<std::string> telemetry_maintenance_statements();

/// Ids of the enabled administrator accounts (for system events addressed to admins).
Result<std::vector<std::string>> admin_user_ids(const std::shared_ptr<Database>& main_db);

}  // namespace sp::sqlite
