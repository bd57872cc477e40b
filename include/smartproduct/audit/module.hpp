#pragma once
// The audit module for the daemon's module list (src/app/modules.cpp); see core/module.hpp. It sits
// after devices and jitr: it uses the device service (revoke-certificate) and the CA service
// (disable-ca) for its mitigation actions.

#include <memory>

#include "smartproduct/core/module.hpp"

namespace sp::audit {

std::unique_ptr<Module> make_module();

}  // namespace sp::audit
