#pragma once
// The datasets module for the daemon's module list (src/app/modules.cpp); see core/module.hpp.
// It sits after telemetry: it reads telemetry.db, which the store opens for every module.

#include <memory>

#include "smartproduct/core/module.hpp"

namespace sp::datasets {

std::unique_ptr<Module> make_module();

}  // namespace sp::datasets
