#include "user_command.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "instance_layout.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/identity/accounts.hpp"
#include "smartproduct/identity/from_config.hpp"
#include "smartproduct/settings/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::cli {
namespace {

Result<std::unique_ptr<sqlite::Store>> open_instance_store(const config::DaemonConfig& c) {
  sqlite::StoreConfig sc;
  sc.data_dir = c.storage.data_dir;
  sc.busy_timeout_ms = c.storage.busy_timeout_ms;
  sc.reader_count = 1;
  return sqlite::open_store(sc);
}

std::string iso(std::int64_t epoch_s) { return iso8601_ms(epoch_s * 1000); }

}  // namespace

Result<void> run_user_add(const UserAddOptions& o, std::istream& password_in, std::ostream& out) {
  std::string password;
  if (!std::getline(password_in, password) || password.empty()) {
    return fail(ErrorKind::kUnprocessable, "MissingPassword",
                "no password on standard input (one line, e.g. from a password manager)");
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  auto cfg = load_instance_config(o.config);
  if (!cfg) return tl::unexpected(cfg.error());
  auto ids = identity_settings(*cfg);
  if (!ids) return tl::unexpected(ids.error());
  auto store = open_instance_store(*cfg);
  if (!store) return tl::unexpected(store.error());
  auto users = sqlite::make_user_repository((*store)->main_ptr());
  auto settings_repo = sqlite::make_settings_repository((*store)->main_ptr());
  identity::AccountService accounts(*users.users, *users.accounts, identity::system_epoch_clock());
  auto created = accounts.create_verified(identity::identity_config_from(*ids), o.email, password,
                                          o.admin ? identity::Role::kAdmin : identity::Role::kUser,
                                          o.name, o.phone, "");
  if (!created) return tl::unexpected(created.error());
  SystemClock clock;
  settings::SettingsService settings(*settings_repo, clock);
  if (auto r = settings.ensure_user_defaults(created->user.id); !r) return r;
  out << fmt::format("created {} {} ({}, verified)\n", created->user.id, created->user.email,
                     identity::role_name(created->user.role));
  (*store)->close();
  return {};
}

Result<void> run_user_list(const std::string& config, std::ostream& out) {
  auto cfg = load_instance_config(config);
  if (!cfg) return tl::unexpected(cfg.error());
  auto store = open_instance_store(*cfg);
  if (!store) return tl::unexpected(store.error());
  auto users = sqlite::make_user_repository((*store)->main_ptr());
  out << fmt::format("{:<24} {:<32} {:<6} {:<8} {:<9} {}\n", "ID", "EMAIL", "ROLE", "ENABLED",
                     "VERIFIED", "CREATED");
  std::optional<store::UserCursor> after;
  std::size_t count = 0;
  do {
    auto page = users.accounts->list_users(100, after);
    if (!page) return tl::unexpected(page.error());
    for (const auto& u : page->items) {
      out << fmt::format("{:<24} {:<32} {:<6} {:<8} {:<9} {}\n", u.user.id, u.user.email,
                         identity::role_name(u.user.role), u.user.enabled ? "yes" : "no",
                         u.user.email_verified ? "yes" : "no", iso(u.user.created_at));
      ++count;
    }
    after = page->next;
  } while (after);
  out << count << (count == 1 ? " account\n" : " accounts\n");
  (*store)->close();
  return {};
}

void add_user_command(CLI::App& app) {
  auto* user = app.add_subcommand("user", "Manage console/API accounts");
  user->require_subcommand(1);

  auto add = std::make_shared<UserAddOptions>();
  auto password_stdin = std::make_shared<bool>(false);
  auto* cmd = user->add_subcommand("add", "Create a verified account (e.g. the first admin)");
  auto add_where = add_instance_options(cmd);
  cmd->add_option("--email", add->email, "Email address (the sign-in name)")->required();
  cmd->add_option("--name", add->name, "Display name");
  cmd->add_option("--phone", add->phone, "Phone number for SMS alerts (E.164, e.g. +15551234567)");
  cmd->add_flag("--admin", add->admin, "Give the account the admin role");
  cmd->add_flag("--password-stdin", *password_stdin,
                "Read the password from standard input (required: never on the command line)")
      ->required();
  cmd->callback([add, add_where] {
    add->config = add_where->config_file().string();
    if (auto r = run_user_add(*add, std::cin, std::cout); !r) {
      std::cerr << "smartproductctl user add: error: " << r.error().message << "\n";
      throw CLI::RuntimeError(1);
    }
  });

  auto* list = user->add_subcommand("list", "List accounts");
  auto list_where = add_instance_options(list);
  list->callback([list_where] {
    if (auto r = run_user_list(list_where->config_file().string(), std::cout); !r) {
      std::cerr << "smartproductctl user list: error: " << r.error().message << "\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace sp::cli
