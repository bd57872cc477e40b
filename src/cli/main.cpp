// smartproductctl: operator CLI. Each command registers itself from its own file.

#include <CLI/CLI.hpp>
#include <string>

#include "audit_command.hpp"
#include "backup_command.hpp"
#include "ca_command.hpp"
#include "catalog_command.hpp"
#include "dataset_command.hpp"
#include "demo_command.hpp"
#include "device_cert_command.hpp"
#include "doctor_command.hpp"
#include "init_command.hpp"
#include "instance_layout.hpp"
#include "keys_command.hpp"
#include "migrate_command.hpp"
#include "status_command.hpp"
#include "user_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Operate a smartproduct instance", "smartproductctl"};
  app.set_version_flag("--version", std::string("smartproductctl ") + SP_VERSION);
  app.require_subcommand(1);
  // --config/--dir are accepted before or after the subcommand (instance_layout.hpp has the rule).
  app.fallthrough();
  sp::cli::add_root_instance_options(app);
  sp::cli::add_init_command(app);
  sp::cli::add_device_cert_command(app);
  sp::cli::add_user_command(app);
  sp::cli::add_keys_command(app);
  sp::cli::add_catalog_command(app);
  sp::cli::add_ca_command(app);
  sp::cli::add_backup_commands(app);
  sp::cli::add_migrate_command(app);
  sp::cli::add_audit_command(app);
  sp::cli::add_dataset_command(app);
  sp::cli::add_demo_command(app);
  sp::cli::add_status_command(app);
  sp::cli::add_doctor_command(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
