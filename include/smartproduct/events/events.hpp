#pragma once
// Domain events of the events module, published on the event bus after the commit.

#include "smartproduct/events/types.hpp"

namespace sp::events {

/// A new (not duplicate) device event was committed and acknowledged.
struct EventStored {
  EventRecord event;
};

}  // namespace sp::events
