#pragma once
// The live module for the daemon's module list (src/app/modules.cpp); see core/module.hpp.
// GET /api/ws: the console's WebSocket of live updates (protocol in live/hub.hpp and the README).

#include <memory>

#include "smartproduct/core/module.hpp"

namespace sp::live {

std::unique_ptr<Module> make_module();

}  // namespace sp::live
