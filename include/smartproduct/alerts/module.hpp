#pragma once
// The alerts module for the daemon's module list (src/app/modules.cpp); see core/module.hpp.
// It sits before the events module: it provides the [alerts] grouping (alerts::Grouping) that the
// events store step applies in each event's transaction.

#include <memory>

#include "smartproduct/core/module.hpp"

namespace sp::alerts {

std::unique_ptr<Module> make_module();

}  // namespace sp::alerts
