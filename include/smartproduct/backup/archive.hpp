#pragma once
// The backup archive: one tar.gz holding a consistent snapshot of every database, the PKI and
// signing keys, the broker's files and the config, with a manifest (versions, schema versions, row
// counts, SHA-256 of every file). Written by `smartproductctl backup` and by the daemon's backup
// module alike; read back by `smartproductctl restore`, which verifies the archive against its
// manifest before anything lands in place.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/result.hpp"

namespace sp::backup {

/// What a backup records about one database.
struct DatabaseFacts {
  std::string schema;  ///< instance_meta 'schema' ("main", "telemetry")
  int user_version = 0;
  std::map<std::string, std::int64_t> rows;  ///< row count per table
};

/// The database side of a backup and a restore. The SQLite adapter implements it
/// (src/store/sqlite/snapshots.hpp), so this library knows no SQL.
class DatabaseSnapshots {
 public:
  virtual ~DatabaseSnapshots() = default;
  /// The database files of a data directory (names relative to it).
  virtual std::vector<std::string> database_files() const = 0;
  /// True for the files the snapshots replace (databases and their -wal/-shm/-journal).
  virtual bool is_database_file(const std::filesystem::path& file) const = 0;
  /// A consistent copy of a live database at `to`, without blocking its writer.
  virtual Result<void> snapshot(const std::filesystem::path& from,
                                const std::filesystem::path& to) const = 0;
  virtual Result<DatabaseFacts> describe(const std::filesystem::path& file) const = 0;
  /// The newest schema version this program knows for `schema`; nullopt: unknown schema.
  virtual std::optional<int> newest_version(std::string_view schema) const = 0;
  /// "ok", or the first problem PRAGMA integrity_check reports.
  virtual Result<std::string> integrity_check(const std::filesystem::path& file) const = 0;
};

/// Where an instance keeps what a backup holds: one directory (the layout `smartproductctl init
/// --dir` makes), or the packaged layout whose config lies apart and whose state folder (data/,
/// pki/, broker/) is the data directory's parent (`init --dir /etc/... --data-dir /var/lib/...`).
struct InstanceSources {
  std::filesystem::path dir;          ///< absolute, normalised
  std::filesystem::path config_file;  ///< smartproduct.toml
  std::filesystem::path data_dir;     ///< absolute, inside dir
  /// Folders never copied (the daemon's own backups folder, which may lie in the data directory).
  std::vector<std::filesystem::path> excluded;

  std::filesystem::path pki() const { return dir / "pki"; }
  std::filesystem::path broker() const { return dir / "broker"; }
};

/// Resolves the sources: `data_dir` and `keys_dir` must lie inside `dir`, or inside the data
/// directory's parent when that holds pki/ and broker/ (then `dir` in the result is that parent).
Result<InstanceSources> instance_sources(const std::filesystem::path& dir,
                                         const std::filesystem::path& config_file,
                                         const std::filesystem::path& data_dir,
                                         const std::filesystem::path& keys_dir);

struct ArchiveReport {
  std::filesystem::path archive;
  std::uintmax_t archive_bytes = 0;
  std::size_t files = 0;
  double seconds = 0;
};

/// Writes the archive at `out` (outside the instance directory, or inside an excluded folder).
/// Safe while the daemon runs: each database is copied from one snapshot. The archive is made in
/// a temporary folder beside `out`, fsynced and renamed (mode 0600: it holds private keys), so
/// `out` is either absent or complete, also after a crash.
Result<ArchiveReport> write_archive(const InstanceSources& sources,
                                    const std::filesystem::path& out,
                                    const DatabaseSnapshots& databases);

struct RestoreReport {
  std::string source_dir;  ///< the instance the backup was taken of
  std::string created_at;
  std::string product_version;
};

/// Extracts into a staging directory beside `dir`, checks every file against the manifest (no
/// file missing, altered or unlisted, no links), checks each database (schema not newer than this
/// program, integrity), points the broker's generated config at the new directory, then renames
/// the staging directory into place. Nothing is left at `dir` on failure. One line per database
/// goes to `out`.
Result<RestoreReport> restore_archive(const std::filesystem::path& archive,
                                      const std::filesystem::path& dir,
                                      const DatabaseSnapshots& databases, std::ostream& out);

/// The prefix of the temporary folders write_archive() and restore_archive() make beside their
/// target: "." + target's file name + ".tmp-".
std::string staging_prefix(const std::filesystem::path& target);

/// `message (detail)`, or `message` when there is no detail.
std::string message_of(const Error& error);

}  // namespace sp::backup
