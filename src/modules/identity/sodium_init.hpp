#pragma once
// libsodium initialisation shared by the identity sources (internal).

namespace sp::identity::detail {

/// Calls sodium_init() once per process; throws std::runtime_error if it fails (no usable RNG).
void ensure_sodium();

}  // namespace sp::identity::detail
