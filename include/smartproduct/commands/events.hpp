#pragma once
// Domain events of the commands module, published on the event bus after the commit.

#include "smartproduct/commands/types.hpp"

namespace sp::commands {

/// A command was created, or changed status (a reply, a timeout, superseded by a newer one).
/// `command` is the row as committed.
struct CommandUpdated {
  Command command;
};

}  // namespace sp::commands
