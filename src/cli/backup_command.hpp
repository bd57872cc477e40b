#pragma once
// `smartproductctl backup` / `restore`: the command-line side of the backup archive
// (smartproduct/backup/archive.hpp, shared with the daemon's backup module): which instance, where
// the archive goes, and what restore must add when run as root (the broker's file owners).

#include <CLI/CLI.hpp>
#include <filesystem>
#include <ostream>
#include <string>

#include "smartproduct/backup/archive.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::cli {

struct BackupOptions {
  std::filesystem::path instance_dir;  ///< the instance to back up
  std::filesystem::path out;           ///< the archive to write (replaced atomically)
};

using BackupReport = backup::ArchiveReport;

/// Writes the archive. Safe while the daemon runs: each database is copied with VACUUM INTO, which
/// reads one snapshot inside a read transaction, so every row committed before it started is in it.
Result<BackupReport> run_backup(const BackupOptions& options);

struct RestoreOptions {
  std::filesystem::path archive;
  std::filesystem::path dir;  ///< must not exist, or be empty
};

/// Extracts into a staging directory beside `dir`, checks every file against the manifest (no
/// file missing, altered or unlisted, no links), checks each database (schema not newer than this
/// program, PRAGMA integrity_check), points the broker's generated config at the new directory,
/// then renames the staging directory into place. Nothing is left at `dir` on failure.
Result<void> run_restore(const RestoreOptions& options, std::ostream& out);

void add_backup_commands(CLI::App& app);

}  // namespace sp::cli
