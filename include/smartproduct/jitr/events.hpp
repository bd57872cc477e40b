#pragma once
// Domain events of JITR, published on the event bus after the write that caused them committed.

#include <string>

namespace sp::jitr {

/// A device certificate was activated for a live registration (the device now has its rights).
struct CertificateActivated {
  std::string device_id;
  std::string fingerprint;
  std::string user_id;
};

}  // namespace sp::jitr
