#pragma once
// Domain events of the devices module, published on the event bus after their write committed.

#include <string>
#include <vector>

namespace sp::devices {

/// A registration was created (status pending): certificates already seen for the serial may be
/// activated now.
struct DeviceRegistered {
  std::string device_id;
  std::string user_id;
};

/// A registration was deleted (soft): the serial is free again and its certificates are revoked
/// (a CertificatesRevoked event follows when it had any).
struct DeviceDeleted {
  std::string device_id;
  std::string user_id;
};

/// Certificates were revoked in the store; the broker must refuse and disconnect them.
struct CertificatesRevoked {
  std::string device_id;
  std::vector<std::string> fingerprints;
};

}  // namespace sp::devices
