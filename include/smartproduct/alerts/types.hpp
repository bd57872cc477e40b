#pragma once
// Alerts (issue 13): the seed's alert (an unacknowledged event of the user whose type is in the
// user's alertLevel) grouped so that it never floods: repeats of one device + type + message while
// the group is open and active within the window fold into one alert with `occurrences`.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/events/types.hpp"

namespace sp::alerts {

/// [alerts]: the grouping window. An event joins the open group of its user, device, type and
/// message when that group's newest occurrence is at most `window_ms` older (server receive
/// time); otherwise it opens a new group. The events store step receives it from the alerts
/// module (the service registry), so the grouping runs in the event's own transaction.
struct Grouping {
  std::int64_t window_ms = 600'000;
};

/// The seed's per-user setting as far as alerts go (the settings row of the user; the seed's
/// default when the row is missing or does not parse).
struct UserAlertSettings {
  std::vector<std::string> alert_level{"error", "warning"};
  bool send_notification = false;

  bool alerts_on(std::string_view type) const {
    for (const auto& l : alert_level) {
      if (l == type) return true;
    }
    return false;
  }
  /// From the stored settings JSON; unknown or malformed fields keep the default.
  static UserAlertSettings from_json(const nlohmann::json& setting) {
    UserAlertSettings s;
    if (!setting.is_object()) return s;
    if (auto l = setting.find("alertLevel"); l != setting.end() && l->is_array()) {
      s.alert_level.clear();
      for (const auto& v : *l) {
        if (!v.is_string()) continue;
        const auto& t = v.get_ref<const std::string&>();
        // events::is_event_type, inlined: the store layer does not link the events library.
        if (t == "error" || t == "warning" || t == "info" || t == "diagnostic") {
          s.alert_level.push_back(t);
        }
      }
    }
    if (auto n = setting.find("sendNotification"); n != setting.end() && n->is_boolean()) {
      s.send_notification = n->get<bool>();
    }
    return s;
  }
};

/// The 'alert' row of notification_outbox written for one occurrence (migration 0010 is the
/// contract): only when sendNotification is on, the type is in alertLevel and the device + type
/// is not suppressed (a suppressed event never reaches this decision: it raises no alert).
inline bool should_notify(const UserAlertSettings& s, std::string_view type) {
  return s.send_notification && s.alerts_on(type);
}

/// One alert group as listed: its newest event (the seed's event shape, so `id` is that event's
/// id and a seed client's PUT .../events/{id} with ack acknowledges the whole group).
struct AlertRecord {
  std::int64_t id = 0;
  std::string user_id;
  std::string device_id;
  std::string device_name;  // the owner's name for the device ("" when unknown)
  std::string event_type;
  std::string message;
  std::int64_t occurrences = 0;
  std::string first_event_id;
  std::int64_t first_seen_at_ms = 0;
  std::int64_t last_seen_at_ms = 0;
  bool ack = false;
  events::EventRecord last_event;
};

/// Where a page of alerts resumes (newest activity first).
struct AlertKey {
  std::int64_t last_seen_at_ms = 0;
  std::int64_t id = 0;
};

/// Where a page of events resumes (newest device timestamp first).
struct EventKey {
  std::int64_t timestamp_ms = 0;
  std::string id;
};

/// An event as the read routes show it.
struct EventView {
  events::EventRecord event;
  std::string device_name;  // "" when unknown
  std::optional<std::int64_t> alert_id;
};

/// PUT/PATCH .../events/{eventId}: keys left out stay as they are.
struct EventChange {
  std::optional<bool> ack;
  std::optional<bool> suppress;
  /// With suppress true: until when (epoch ms); nullopt: until lifted.
  std::optional<std::int64_t> suppress_until_ms;
};

/// What an acknowledgement changed.
struct AckResult {
  std::int64_t events = 0;         // events newly marked read
  std::int64_t alerts = 0;         // alert groups newly acknowledged
  std::vector<std::string> users;  // whose alerts changed (for AlertsChanged)
};

}  // namespace sp::alerts
