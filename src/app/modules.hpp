#pragma once
// The daemon's module list and the loading of the whole configuration (core + every module's
// section).

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/core/config.hpp"
#include "smartproduct/core/module.hpp"

namespace sp::app {

/// Every module, in dependency order (each may use the services of those before it).
std::vector<std::unique_ptr<Module>> make_modules();

struct Configuration {
  std::optional<config::DaemonConfig> config;    // set when there were no errors
  std::vector<std::unique_ptr<Module>> modules;  // configured
  std::vector<std::string> errors;               // "FILE:LINE:COL: [section] key: problem"
};

/// Loads the file: core's sections, then each module's, then reports unknown sections.
Configuration load_configuration(const std::filesystem::path& file);

}  // namespace sp::app
