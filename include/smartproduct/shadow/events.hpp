#pragma once
// Domain events of the shadow module, published on the event bus after the commit.

#include <string>

#include "smartproduct/shadow/types.hpp"

namespace sp::shadow {

/// An update (by the device or its owner) was accepted and committed.
struct ShadowUpdated {
  std::string device_id;
  ShadowDocument current;
};

/// A device's shadow was deleted.
struct ShadowDeleted {
  std::string device_id;
};

}  // namespace sp::shadow
