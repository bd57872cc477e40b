#pragma once
// Domain events of the certificate authorities, published on the event bus after the write.

#include <string>

namespace sp::pki {

/// A registered CA became INACTIVE or DEREGISTERED (or was registered inactive): the broker must
/// refuse its devices at once.
struct CaDisabled {
  std::string ca_id;
};

/// A CA was taken out of the broker's capath (an ACTIVE CA became INACTIVE or DEREGISTERED).
/// mosquitto keeps CAs it has used in its TLS store until it restarts: a managed broker is
/// restarted, so TLS refuses the CA's devices too.
struct CaUntrusted {
  std::string ca_id;
};

/// A registered CA became ACTIVE.
struct CaEnabled {
  std::string ca_id;
};

}  // namespace sp::pki
