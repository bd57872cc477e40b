#pragma once
// The device topics of an accepted shadow update, for every module that publishes one (the shadow
// module's own updates, the commands module's desired changes). Header-only: sp_shadow itself does
// not link sp_core, whose device_message.hpp names the topic prefix.

#include <string>
#include <vector>

#include "smartproduct/core/device_message.hpp"
#include "smartproduct/shadow/types.hpp"

namespace sp::shadow {

struct ShadowPublication {
  std::string topic;
  std::string payload;
};

/// $aws/things/<device_id>/shadow/update/accepted, .../update/delta (if any), .../update/documents,
/// in the order they are published (QoS 1, after the commit).
inline std::vector<ShadowPublication> update_publications(const std::string& device_id,
                                                          const UpdateOutcome& outcome) {
  const std::string base = std::string(kShadowTopicPrefix) + "/" + device_id + "/shadow/";
  std::vector<ShadowPublication> out;
  out.push_back({base + "update/accepted", outcome.accepted});
  if (outcome.delta) out.push_back({base + "update/delta", *outcome.delta});
  out.push_back({base + "update/documents", outcome.documents});
  return out;
}

}  // namespace sp::shadow
