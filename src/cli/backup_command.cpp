#include "backup_command.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <iostream>
#include <vector>

#include "init_command.hpp"
#include "instance_layout.hpp"
#include "smartproduct/backup/archive.hpp"
#include "smartproduct/backup/settings.hpp"
#include "store/sqlite/snapshots.hpp"

namespace sp::cli {
namespace fs = std::filesystem;
using backup::message_of;

namespace {

// The daemon's backups folder ([backup] dir), which may lie in the data directory: never copied.
Result<fs::path> daemon_backups_dir(const config::DaemonConfig& c) {
  std::vector<std::string> errors;
  auto section = c.document->section("backup", errors);
  auto settings = backup::read_backup_settings(section, c.storage.data_dir);
  if (!errors.empty()) return fail(ErrorKind::kUnprocessable, "ConfigError", errors.front());
  return fs::absolute(settings.dir).lexically_normal();
}

}  // namespace

Result<BackupReport> run_backup(const BackupOptions& options) {
  auto layout = make_layout(options.instance_dir);
  if (!layout) return tl::unexpected(layout.error());
  auto cfg = load_instance_config(layout->config().string());
  if (!cfg) return tl::unexpected(cfg.error());
  auto ids = identity_settings(*cfg);
  if (!ids) return tl::unexpected(ids.error());
  auto sources =
      backup::instance_sources(layout->dir, layout->config(), cfg->storage.data_dir, ids->keys_dir);
  if (!sources) return tl::unexpected(sources.error());
  auto backups = daemon_backups_dir(*cfg);
  if (!backups) return tl::unexpected(backups.error());
  sources->excluded.push_back(*backups);
  if (options.out.empty())
    return fail(ErrorKind::kUnprocessable, "BackupError", "--out is required");
  // The daemon's folder is its own (retention deletes there): the CLI writes elsewhere.
  const fs::path out = fs::absolute(options.out).lexically_normal();
  if (auto rel = out.lexically_relative(layout->dir); !rel.empty() && *rel.begin() != "..") {
    return fail(ErrorKind::kUnprocessable, "BackupError",
                "the archive must be written outside the instance directory");
  }
  auto databases = sqlite::make_database_snapshots();
  return backup::write_archive(*sources, out, *databases);
}

Result<void> run_restore(const RestoreOptions& options, std::ostream& out) {
  auto databases = sqlite::make_database_snapshots();
  auto restored = backup::restore_archive(options.archive, options.dir, *databases, out);
  if (!restored) return tl::unexpected(restored.error());
  const fs::path dir = fs::absolute(options.dir).lexically_normal();
  if (::geteuid() == 0) {
    auto layout = make_layout(dir);
    if (!layout) return tl::unexpected(layout.error());
    std::vector<std::string> warnings;
    if (auto r = grant_broker_access(*layout, warnings); !r) return tl::unexpected(r.error());
    for (const auto& w : warnings) out << "warning: " << w << "\n";
  }
  out << "restored into " << dir.string() << " (backup of " << restored->source_dir << ", taken "
      << restored->created_at << " by smartproduct " << restored->product_version << ")\n";
  return {};
}

void add_backup_commands(CLI::App& app) {
  auto backup_out = std::make_shared<std::string>();
  auto* backup = app.add_subcommand(
      "backup", "Write a consistent archive of an instance (safe while the daemon runs)");
  auto where = add_instance_options(backup);
  backup->add_option("--out", *backup_out, "archive to write (.tar.gz)")->required();
  backup->callback([where, backup_out] {
    BackupOptions o{where->instance_dir(), *backup_out};
    auto r = run_backup(o);
    if (!r) {
      std::cerr << "smartproductctl backup: error: " << message_of(r.error()) << "\n";
      throw CLI::RuntimeError(1);
    }
    std::cout << fmt::format("wrote {} ({} bytes, {} files) in {:.2f} s\n", r->archive.string(),
                             r->archive_bytes, r->files, r->seconds);
  });

  auto restore_archive = std::make_shared<std::string>();
  auto restore_dir = std::make_shared<std::string>();
  auto* restore =
      app.add_subcommand("restore", "Restore a backup archive into a new instance directory");
  restore->add_option("archive", *restore_archive, "archive written by `smartproductctl backup`")
      ->required();
  restore->add_option("--dir", *restore_dir,
                      "new instance directory (must not exist or be empty; required)");
  restore->callback([restore_archive, restore_dir] {
    std::string dir = restore_dir->empty() ? root_instance_options().dir : *restore_dir;
    auto r = run_restore({*restore_archive, dir}, std::cout);
    if (!r) {
      std::cerr << "smartproductctl restore: error: " << message_of(r.error()) << "\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace sp::cli
