#pragma once
// The SQLite side of backups and restores (smartproduct/backup/archive.hpp): consistent snapshots
// of live databases with VACUUM INTO, the facts a manifest records, and the checks restore makes.

#include <memory>

#include "smartproduct/backup/archive.hpp"

namespace sp::sqlite {

/// The instance's databases (smartproduct.db, telemetry.db) as backup::DatabaseSnapshots.
std::unique_ptr<backup::DatabaseSnapshots> make_database_snapshots();

}  // namespace sp::sqlite
