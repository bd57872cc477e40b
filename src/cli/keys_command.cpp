#include "keys_command.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <ctime>
#include <iostream>

#include "instance_layout.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/identity/from_config.hpp"
#include "smartproduct/identity/key_store.hpp"

namespace sp::cli {
namespace {

std::int64_t now_s() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string describe(const identity::KeyInfo& k) {
  return fmt::format("{} {} created {}{}", k.kid, identity::algorithm_name(k.algorithm),
                     iso8601_ms(k.created_at * 1000),
                     k.active      ? " (active)"
                     : k.retire_at ? " (verifies until " + iso8601_ms(*k.retire_at * 1000) + ")"
                                   : "");
}

std::string message_of(const Error& e) {
  return e.detail.empty() ? e.message : e.message + " (" + e.detail + ")";
}

}  // namespace

Result<void> run_keys_rotate(const std::string& config, std::ostream& out) {
  auto cfg = load_instance_config(config);
  if (!cfg) return tl::unexpected(cfg.error());
  auto ids = identity_settings(*cfg);
  if (!ids) return tl::unexpected(ids.error());
  identity::KeyStore keys(ids->keys_dir);
  auto info = keys.rotate(identity::signing_algorithm_from(*ids), now_s(),
                          identity::key_retire_after_s(*ids));
  if (!info) return fail(info.error().kind, info.error().name, message_of(info.error()));
  out << "new active signing key: " << describe(*info) << "\n";
  auto all = keys.list();
  if (all) {
    for (const auto& k : *all) {
      if (!k.active) out << "  still verifying: " << describe(k) << "\n";
    }
  }
  out << "The running daemon switches at its next sign-in or token refresh (or send it SIGHUP).\n";
  return {};
}

Result<void> run_keys_list(const std::string& config, std::ostream& out) {
  auto cfg = load_instance_config(config);
  if (!cfg) return tl::unexpected(cfg.error());
  auto ids = identity_settings(*cfg);
  if (!ids) return tl::unexpected(ids.error());
  identity::KeyStore keys(ids->keys_dir);
  auto all = keys.list();
  if (!all) return fail(all.error().kind, all.error().name, message_of(all.error()));
  if (all->empty()) out << "no keys yet (the daemon creates the first at start)\n";
  for (const auto& k : *all) out << describe(k) << "\n";
  return {};
}

void add_keys_command(CLI::App& app) {
  auto* keys = app.add_subcommand("keys", "Manage the access-token signing keys");
  keys->require_subcommand(1);
  auto* rotate = keys->add_subcommand("rotate", "Generate a new signing key and make it active");
  auto rotate_where = add_instance_options(rotate);
  rotate->callback([rotate_where] {
    if (auto r = run_keys_rotate(rotate_where->config_file().string(), std::cout); !r) {
      std::cerr << "smartproductctl keys rotate: error: " << r.error().message << "\n";
      throw CLI::RuntimeError(1);
    }
  });
  auto* list = keys->add_subcommand("list", "Show the signing keys and until when they verify");
  auto list_where = add_instance_options(list);
  list->callback([list_where] {
    if (auto r = run_keys_list(list_where->config_file().string(), std::cout); !r) {
      std::cerr << "smartproductctl keys list: error: " << r.error().message << "\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace sp::cli
