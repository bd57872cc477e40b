#include "smartproduct/jitr/settings.hpp"

#include "smartproduct/core/config.hpp"

namespace sp::jitr {

JitrSettings read_jitr_settings(config::Section& s) {
  JitrSettings j;
  j.enabled = s.boolean("enabled", j.enabled);
  j.ca_dir = s.path("ca_dir", j.ca_dir);
  j.managed_ca_dir = s.path("managed_ca_dir", j.managed_ca_dir);
  j.security_event_interval_s = static_cast<int>(
      s.integer("security_event_interval_s", j.security_event_interval_s, 0, 86400));
  s.finish();
  return j;
}

}  // namespace sp::jitr
