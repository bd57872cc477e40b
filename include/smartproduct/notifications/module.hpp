#pragma once
// The notifications module for the daemon's module list (src/app/modules.cpp); see core/module.hpp.

#include <memory>

#include "smartproduct/core/module.hpp"

namespace sp::notifications {

std::unique_ptr<Module> make_module();

}  // namespace sp::notifications
