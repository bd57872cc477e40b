#pragma once
// The backup module for the daemon's module list (src/app/modules.cpp); see core/module.hpp.
// [backup]: dir, schedule, keep. Routes under /api/admin/backups (admins only). It needs the
// identity module (the Authenticator) before it in the list.

#include <memory>

#include "smartproduct/core/module.hpp"

namespace sp::backup {

std::unique_ptr<Module> make_module();

}  // namespace sp::backup
