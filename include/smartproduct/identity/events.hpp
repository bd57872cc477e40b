#pragma once
// Domain events of the identity module, published on the event bus after their write committed.

#include <string>

namespace sp::identity {

/// An account's email address was verified (the settings module creates the user's defaults).
struct UserVerified {
  std::string user_id;
};

}  // namespace sp::identity
