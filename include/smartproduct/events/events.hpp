#pragma once
// Domain events of the events module, published on the event bus after the commit.

#include "smartproduct/events/types.hpp"

namespace sp::events {

/// A new (not duplicate) device event was committed and acknowledged.
struct EventStored {
  EventRecord event;
};

/// A user's alerts changed (a new alert or occurrence, an acknowledgement, a suppression):
/// published after the commit; subscribers re-read GET /api/alerts/count. May also follow an event
/// that changed nothing visible (e.g. one of a suppressed device + type).
struct AlertsChanged {
  std::string user_id;
};

}  // namespace sp::events
