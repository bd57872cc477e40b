#include "migrate_command.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "instance_layout.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/store.hpp"

namespace sp::cli {
namespace {

namespace fs = std::filesystem;

struct DatabaseFile {
  const char* file;
  const char* schema;
};
constexpr DatabaseFile kDatabases[] = {{sqlite::kMainDatabaseFile, "main"},
                                       {sqlite::kTelemetryDatabaseFile, "telemetry"}};

std::string describe(const Error& e) {
  return e.detail.empty() ? e.message : e.message + " (" + e.detail + ")";
}

// Returns false when the database cannot be brought to (or, dry, is not at) a known version.
bool migrate_one(const fs::path& path, const char* schema, bool dry_run) {
  const auto migrations = sqlite::embedded_migrations(schema);
  const int newest = migrations.empty() ? 0 : migrations.back().version;
  if (!fs::exists(path)) {
    std::cout << fmt::format("{}: not created yet (the daemon creates it at first start)\n",
                             path.string());
    return true;
  }
  sqlite::ConnectionOptions options;
  options.create = false;
  options.query_only = dry_run;
  auto conn = sqlite::Connection::open(path, options);
  if (!conn) {
    std::cerr << fmt::format("{}: cannot open: {}\n", path.string(), describe(conn.error()));
    return false;
  }
  auto version = sqlite::user_version(*conn);
  if (!version) {
    std::cerr << fmt::format("{}: cannot read the schema version: {}\n", path.string(),
                             describe(version.error()));
    return false;
  }
  if (*version > newest) {
    std::cerr << fmt::format(
        "{}: schema version {} is newer than this smartproductctl knows ({}): it was written by a "
        "newer smartproduct; use that version (downgrades are not supported)\n",
        path.string(), *version, newest);
    return false;
  }
  std::vector<std::string> pending;
  for (const auto& m : migrations) {
    if (m.version > *version) pending.push_back(m.name);
  }
  std::cout << fmt::format("{}: schema {} version {} of {}", path.string(), schema, *version,
                           newest);
  if (pending.empty()) {
    std::cout << ", up to date\n";
    return true;
  }
  std::cout << fmt::format(", {} pending: {}\n", pending.size(), fmt::join(pending, ", "));
  if (dry_run) return true;
  // The daemon's own runner: each migration in its own write transaction, so a failure leaves the
  // database at the last complete version.
  if (auto applied = sqlite::apply_migrations(*conn, migrations); !applied) {
    std::cerr << fmt::format("{}: migration failed: {}\n", path.string(),
                             describe(applied.error()));
    return false;
  }
  std::cout << fmt::format("{}: migrated to version {}\n", path.string(), newest);
  return true;
}

}  // namespace

void add_migrate_command(CLI::App& app) {
  auto dry_run = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "migrate",
      "Show and apply pending database migrations (the daemon also applies them at start)");
  auto where = add_instance_options(cmd);
  cmd->add_flag("--dry-run", *dry_run, "only show each database's version and what would run");
  cmd->callback([where, dry_run] {
    auto cfg = load_instance_config(where->config_file().string());
    if (!cfg) {
      std::cerr << "smartproductctl migrate: error: " << describe(cfg.error()) << "\n";
      throw CLI::RuntimeError(1);
    }
    const fs::path data_dir = fs::absolute(cfg->storage.data_dir).lexically_normal();
    bool ok = true;
    for (const auto& db : kDatabases)
      ok = migrate_one(data_dir / db.file, db.schema, *dry_run) && ok;
    if (!ok) throw CLI::RuntimeError(1);
  });
}

}  // namespace sp::cli
