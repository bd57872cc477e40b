#pragma once
// The commands module for the daemon's module list (src/app/modules.cpp); see core/module.hpp.

#include <memory>

#include "smartproduct/core/module.hpp"

namespace sp::commands {

std::unique_ptr<Module> make_module();

}  // namespace sp::commands
