#include "smartproduct/detect/profiles.hpp"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "smartproduct/core/device_message.hpp"
#include "smartproduct/http/errors.hpp"

namespace sp::detect {

using nlohmann::json;

std::string_view to_string(Comparison c) {
  switch (c) {
    case Comparison::kGreaterThan:
      return "greater-than";
    case Comparison::kGreaterThanEquals:
      return "greater-than-equals";
    case Comparison::kLessThan:
      return "less-than";
    case Comparison::kLessThanEquals:
      return "less-than-equals";
  }
  return "greater-than";
}

std::string_view to_string(Action a) {
  switch (a) {
    case Action::kNotify:
      return "notify";
    case Action::kQuarantine:
      return "quarantine";
    case Action::kRevoke:
      return "revoke";
  }
  return "notify";
}

namespace {

constexpr std::array<Comparison, 4> kComparisons = {
    Comparison::kGreaterThan, Comparison::kGreaterThanEquals, Comparison::kLessThan,
    Comparison::kLessThanEquals};
constexpr std::array<Action, 3> kActions = {Action::kNotify, Action::kQuarantine, Action::kRevoke};

// Names go into alert texts, log lines and the store key of a violation: a small alphabet.
bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (unsigned char c : s) {
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

class Checker {
 public:
  tl::unexpected<Error> bad(const std::string& where, const std::string& what) const {
    return fail(errors::kInvalidSecurityProfile, where + " " + what);
  }

  // A whole number in [lo, hi], or an error naming the field.
  Result<int> integer(const json& obj, const char* key, const std::string& where, int lo, int hi,
                      std::optional<int> fallback) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
      if (fallback) return *fallback;
      return bad(where + "." + key, "is required.");
    }
    if (!it->is_number_integer() && !it->is_number_unsigned()) {
      return bad(where + "." + key, fmt::format("must be a whole number from {} to {}.", lo, hi));
    }
    const auto v = it->get<std::int64_t>();
    if (v < lo || v > hi) {
      return bad(where + "." + key, fmt::format("must be a whole number from {} to {}.", lo, hi));
    }
    return static_cast<int>(v);
  }
};

Result<Rule> parse_rule(const json& r, const std::string& where) {
  Checker c;
  if (!r.is_object()) return c.bad(where, "must be an object.");
  Rule rule;
  auto name = r.find("name");
  if (name == r.end() || !name->is_string() || !valid_name(name->get<std::string>())) {
    return c.bad(where + ".name", "must be 1 to 64 characters from A-Z a-z 0-9 . _ -.");
  }
  rule.name = name->get<std::string>();
  auto metric = r.find("metric");
  std::optional<Metric> m;
  if (metric != r.end() && metric->is_string()) m = metric_from(metric->get<std::string>());
  if (!m) {
    std::string names;
    for (auto n : kMetricNames) names += (names.empty() ? "" : ", ") + std::string(n);
    return c.bad(where + ".metric", "must be one of " + names + ".");
  }
  rule.metric = *m;
  auto duration = c.integer(r, "durationSeconds", where, kMinDurationS, kMaxDurationS, 300);
  if (!duration) return tl::unexpected(duration.error());
  rule.duration_s = *duration;

  auto statistic = r.find("statistic");
  const bool statistical = statistic != r.end() && !statistic->is_null();
  if (statistical) {
    if (!statistic->is_string() || (*statistic != "p90" && *statistic != "p99")) {
      return c.bad(where + ".statistic", "must be p90 or p99.");
    }
    if (r.contains("value") && !r["value"].is_null()) {
      return c.bad(where, "has both statistic and value: a rule is either statistical or static.");
    }
    rule.percentile = *statistic == "p90" ? 90 : 99;
    auto samples = c.integer(r, "minSamples", where, 1, 10000, 20);
    if (!samples) return tl::unexpected(samples.error());
    rule.min_samples = *samples;
    // A window above the device's own percentile: nothing else makes sense for "unlike itself".
    auto comparison = r.find("comparison");
    if (comparison != r.end() && !comparison->is_null() && *comparison != "greater-than") {
      return c.bad(where + ".comparison", "must be greater-than (or left out) for a statistic.");
    }
    rule.comparison = Comparison::kGreaterThan;
  } else {
    auto comparison = r.find("comparison");
    bool found = false;
    if (comparison != r.end() && comparison->is_string()) {
      for (auto k : kComparisons) {
        if (to_string(k) == comparison->get<std::string>()) {
          rule.comparison = k;
          found = true;
        }
      }
    }
    if (!found) {
      return c.bad(where + ".comparison",
                   "must be greater-than, greater-than-equals, less-than or less-than-equals "
                   "(or give a statistic: p90 or p99).");
    }
    auto value = r.find("value");
    if (value == r.end() || !value->is_number() || !std::isfinite(value->get<double>()) ||
        value->get<double>() < 0 || value->get<double>() > 1e15) {
      return c.bad(where + ".value", "must be a number from 0 to 1e15.");
    }
    rule.value = value->get<double>();
  }

  auto action = r.find("action");
  if (action != r.end() && !action->is_null()) {
    bool found = false;
    if (action->is_string()) {
      for (auto a : kActions) {
        if (to_string(a) == action->get<std::string>()) {
          rule.action = a;
          found = true;
        }
      }
    }
    if (!found) return c.bad(where + ".action", "must be notify, quarantine or revoke.");
  }
  // Back to normal means at least one whole window without a violation.
  auto clear = c.integer(r, "clearAfterSeconds", where, rule.duration_s, 7 * kMaxDurationS,
                         2 * rule.duration_s);
  if (!clear) {
    return c.bad(where + ".clearAfterSeconds",
                 fmt::format("must be a whole number from durationSeconds ({}) to {}.",
                             rule.duration_s, 7 * kMaxDurationS));
  }
  rule.clear_after_s = *clear;
  return rule;
}

}  // namespace

Result<std::vector<Profile>> parse_profiles(const json& document) {
  Checker c;
  if (!document.is_object()) return c.bad("The body", "must be an object with profiles.");
  auto list = document.find("profiles");
  if (list == document.end() || !list->is_array()) {
    return c.bad("profiles", "must be an array.");
  }
  if (list->size() > kMaxProfiles) {
    return c.bad("profiles", fmt::format("may hold at most {} profiles.", kMaxProfiles));
  }
  std::vector<Profile> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto& p = (*list)[i];
    const std::string where = fmt::format("profiles[{}]", i);
    if (!p.is_object()) return c.bad(where, "must be an object.");
    Profile profile;
    auto name = p.find("name");
    if (name == p.end() || !name->is_string() || !valid_name(name->get<std::string>())) {
      return c.bad(where + ".name", "must be 1 to 64 characters from A-Z a-z 0-9 . _ -.");
    }
    profile.name = name->get<std::string>();
    if (!names.insert(profile.name).second) {
      return c.bad(where + ".name", "'" + profile.name + "' is used by another profile.");
    }
    auto model = p.find("model");
    if (model != p.end() && !model->is_null()) {
      if (!model->is_string() || model->get<std::string>().empty() ||
          model->get<std::string>().size() > 128) {
        return c.bad(where + ".model", "must be a model number (1 to 128 characters) or null.");
      }
      profile.model = model->get<std::string>();
    }
    auto rules = p.find("rules");
    if (rules == p.end() || !rules->is_array()) return c.bad(where + ".rules", "must be an array.");
    if (rules->size() > kMaxRulesPerProfile) {
      return c.bad(where + ".rules",
                   fmt::format("may hold at most {} rules.", kMaxRulesPerProfile));
    }
    std::set<std::string> rule_names;
    for (std::size_t k = 0; k < rules->size(); ++k) {
      auto rule = parse_rule((*rules)[k], fmt::format("{}.rules[{}]", where, k));
      if (!rule) return tl::unexpected(rule.error());
      if (!rule_names.insert(rule->name).second) {
        return c.bad(fmt::format("{}.rules[{}].name", where, k),
                     "'" + rule->name + "' is used by another rule of the profile.");
      }
      profile.rules.push_back(std::move(*rule));
    }
    out.push_back(std::move(profile));
  }
  return out;
}

json rules_json(const std::vector<Rule>& rules) {
  json out = json::array();
  for (const auto& r : rules) {
    json j = {{"name", r.name},
              {"metric", to_string(r.metric)},
              {"durationSeconds", r.duration_s},
              {"action", to_string(r.action)},
              {"clearAfterSeconds", r.clear_after_s}};
    if (r.percentile) {
      j["statistic"] = fmt::format("p{}", *r.percentile);
      j["minSamples"] = r.min_samples;
    } else {
      j["comparison"] = to_string(r.comparison);
      j["value"] = r.value;
    }
    out.push_back(std::move(j));
  }
  return out;
}

json profile_json(const Profile& p) {
  return json{{"name", p.name},
              {"model", p.model ? json(*p.model) : json(nullptr)},
              {"rules", rules_json(p.rules)}};
}

namespace {

// A counter of the report: a non-negative integer (a missing key is 0).
bool counter(const json& d, const char* key, std::uint64_t& out) {
  auto it = d.find(key);
  if (it == d.end()) return true;
  if (it->is_number_unsigned()) {
    out = it->get<std::uint64_t>();
    return true;
  }
  if (it->is_number_integer() && it->get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(it->get<std::int64_t>());
    return true;
  }
  return false;
}

}  // namespace

std::optional<BehaviourReport> parse_report(std::string_view payload) {
  json doc = json::parse(payload, nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  BehaviourReport report;
  auto num = [&](const char* key, auto& out) {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_number_integer()) return false;
    if (it->is_number_unsigned() &&
        it->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      return false;
    }
    out = static_cast<std::remove_reference_t<decltype(out)>>(it->get<std::int64_t>());
    return true;
  };
  if (!num("toMs", report.to_ms) || report.to_ms <= 0) return std::nullopt;
  num("fromMs", report.from_ms);
  num("epoch", report.epoch);
  num("seq", report.seq);
  auto devices = doc.find("devices");
  if (devices == doc.end() || !devices->is_array()) return std::nullopt;
  for (const auto& d : *devices) {
    BehaviourSample s;
    s.to_ms = report.to_ms;
    auto id = d.is_object() ? d.find("id") : d.end();
    bool ok = d.is_object() && id != d.end() && id->is_string() &&
              is_valid_device_id(id->get_ref<const std::string&>());
    ok = ok && counter(d, "messagesSent", s.messages_sent) &&
         counter(d, "messagesReceived", s.messages_received) &&
         counter(d, "bytesSent", s.bytes_sent) &&
         counter(d, "maxMessageBytes", s.max_message_bytes) &&
         counter(d, "authorizationFailures", s.authorization_failures) &&
         counter(d, "connectionAttempts", s.connection_attempts) &&
         counter(d, "disconnects", s.disconnects) &&
         counter(d, "distinctAddresses", s.distinct_addresses);
    if (ok) {
      s.device_id = id->get<std::string>();
      auto addresses = d.find("addresses");
      if (addresses != d.end() && addresses->is_array()) {
        for (const auto& a : *addresses) {
          // An address is at most an IPv6 text; more would be the plugin's bug, not a device's.
          if (a.is_string() && a.get_ref<const std::string&>().size() <= 64 &&
              s.addresses.size() < 64) {
            s.addresses.push_back(a.get<std::string>());
          }
        }
      }
      report.samples.push_back(std::move(s));
    } else {
      ++report.skipped;
    }
  }
  return report;
}

}  // namespace sp::detect
