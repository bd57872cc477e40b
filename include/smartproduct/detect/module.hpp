#pragma once
// The detect module for the daemon's module list (src/app/modules.cpp); see core/module.hpp. It
// sits after devices, jitr and events (model lookup, revocation, the broker's quarantine, alerts)
// and before audit, whose quarantine-device action uses its DetectService.

#include <memory>

#include "smartproduct/core/module.hpp"

namespace sp::detect {

std::unique_ptr<Module> make_module();

}  // namespace sp::detect
