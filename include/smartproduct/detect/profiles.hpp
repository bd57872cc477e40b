#pragma once
// The security profile document (GET/PUT /api/admin/security-profiles) and the broker plugin's
// behaviour report ($SYS/smartproduct/behaviour), parsed and validated. Both are outside input:
// the report parser has a fuzz target (tests/fuzz/behaviour_report_fuzz.cpp).

#include <cstdint>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"
#include "smartproduct/detect/types.hpp"

namespace sp::detect {

/// `{"profiles":[...]}` → the profiles, or InvalidSecurityProfile (422) whose message names the
/// field (`profiles[1].rules[0].durationSeconds must be ...`). Defaults: action notify,
/// clearAfterSeconds 2 × durationSeconds, minSamples 20.
Result<std::vector<Profile>> parse_profiles(const nlohmann::json& document);
/// One profile's rules as stored (and as answered): every field spelled out.
nlohmann::json rules_json(const std::vector<Rule>& rules);
nlohmann::json profile_json(const Profile& profile);

/// A behaviour report part; nullopt when it is not one (logged and dropped by the caller).
/// Entries with a bad device id or counter are skipped, the rest kept.
struct BehaviourReport {
  std::int64_t epoch = 0;
  std::uint64_t seq = 0;
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::vector<BehaviourSample> samples;
  std::size_t skipped = 0;
};
std::optional<BehaviourReport> parse_report(std::string_view payload);

}  // namespace sp::detect
