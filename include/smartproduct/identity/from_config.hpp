#pragma once
// Maps the [identity] section (settings.hpp) to the identity module's typed settings. Used
// by the daemon and by smartproductctl (user add, keys rotate), so both apply the same limits.

#include "smartproduct/identity/config.hpp"
#include "smartproduct/identity/jws.hpp"
#include "smartproduct/identity/mailer.hpp"
#include "smartproduct/identity/settings.hpp"

namespace sp::identity {

IdentityConfig identity_config_from(const IdentitySettings& settings);
/// The algorithm of newly generated signing keys.
Algorithm signing_algorithm_from(const IdentitySettings& settings);
MailerConfig mailer_config_from(const IdentitySettings& settings);
/// How long a key that stopped signing must keep verifying: the access-token lifetime plus the
/// validation leeway.
std::int64_t key_retire_after_s(const IdentitySettings& settings);

}  // namespace sp::identity
