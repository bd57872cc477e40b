#pragma once
// `smartproductctl backup` / `restore`: one archive (tar.gz) holding a consistent snapshot of every
// database (SQLite `VACUUM INTO`, safe while the daemon writes), the PKI and signing keys, the
// broker's files and the config, with a manifest (versions, schema versions, row counts, SHA-256 of
// every file). Restore verifies the archive against its manifest before anything lands in place.

#include <CLI/CLI.hpp>
#include <filesystem>
#include <ostream>
#include <string>

#include "smartproduct/core/result.hpp"

namespace sp::cli {

struct BackupOptions {
  std::filesystem::path instance_dir;  ///< the instance to back up
  std::filesystem::path out;           ///< the archive to write (replaced atomically)
};

struct BackupReport {
  std::filesystem::path archive;
  std::uintmax_t archive_bytes = 0;
  std::size_t files = 0;
  double seconds = 0;
};

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
