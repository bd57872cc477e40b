// smartproduct-sim: simulated devices and load generators for smartproduct.
// Subcommands: run (the seed's device behaviour: temperature model, threshold events, commands,
// shadow), publish (telemetry load), subscribe-null (bare-broker baseline), connect-storm (connect
// and JITR activation rates), shadow-bench (shadow update round trips).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <vector>

#include "broker_options.hpp"
#include "connect_storm_command.hpp"
#include "mqtt_client.hpp"
#include "publish_command.hpp"
#include "run_command.hpp"
#include "shadow_bench_command.hpp"
#include "subscribe_null_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"smartproduct-sim: simulated smartproduct devices over MQTT/mutual TLS"};
  app.set_version_flag("--version", std::string("smartproduct-sim ") + SP_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // --log-level may also follow the subcommand
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error (messages go to stderr)")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  const std::vector<sp::sim::Subcommand> subcommands{
      sp::sim::add_run_command(app), sp::sim::add_publish_command(app),
      sp::sim::add_subscribe_null_command(app), sp::sim::add_connect_storm_command(app),
      sp::sim::add_shadow_bench_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // stdout carries results (and the subscriber's ready line) for scripts; logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("sim"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%H:%M:%S.%e %^%l%$ %v");
  sp::sim::MosquittoLibrary library;
  sp::sim::install_stop_signals();
  for (const auto& sub : subcommands) {
    if (sub.parser->parsed()) return sub.run();
  }
  return sp::sim::kExitUsage;
}
