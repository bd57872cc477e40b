// libFuzzer target for detection's outside input (src/modules/detect): the broker plugin's
// behaviour reports (a compromised or buggy broker, or a service account, can publish anything on
// $SYS/smartproduct/behaviour), the security profile document an administrator PUTs, and the
// stored baseline blob. The first byte picks the parser. Invariants: a parsed report's samples
// have valid device ids and feed the engine without harm; accepted profiles survive their own
// JSON form unchanged; a baseline blob that parses serialises back to the same bytes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smartproduct/core/device_message.hpp"
#include "smartproduct/detect/engine.hpp"
#include "smartproduct/detect/profiles.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

sp::detect::BehaviourEngine& engine() {
  static sp::detect::BehaviourEngine e(
      [](const std::string& id) -> std::optional<std::string> {
        if (id.size() % 2) return "odd";
        return std::nullopt;
      },
      [](const std::string&, sp::detect::Metric, int) { return std::nullopt; });
  static bool configured = [] {
    auto p = sp::detect::parse_profiles(nlohmann::json::parse(R"({"profiles":[
      {"name":"all","rules":[
        {"name":"a","metric":"messages-sent","comparison":"greater-than","value":5,"durationSeconds":1},
        {"name":"b","metric":"source-ip-addresses","comparison":"less-than","value":2,"durationSeconds":7},
        {"name":"c","metric":"bytes-sent","statistic":"p90","minSamples":1,"durationSeconds":2}]},
      {"name":"odd","model":"odd","rules":[
        {"name":"d","metric":"message-byte-size","statistic":"p99","minSamples":2,"durationSeconds":1}]}]})"));
    check(p.has_value());
    e.set_profiles(std::move(*p));
    return true;
  }();
  (void)configured;
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto report = sp::detect::parse_report(text);
      if (!report) return 0;
      for (const auto& s : report->samples) {
        check(sp::is_valid_device_id(s.device_id));
        check(s.addresses.size() <= 64);
        (void)engine().observe(s);
      }
      (void)engine().tick(report->to_ms);
      (void)engine().take_dirty_baselines();
      break;
    }
    case 1: {
      auto doc = nlohmann::json::parse(text, nullptr, false);
      if (doc.is_discarded()) return 0;
      auto profiles = sp::detect::parse_profiles(doc);
      if (!profiles) {
        check(profiles.error().name == "InvalidSecurityProfile");
        return 0;
      }
      nlohmann::json again = {{"profiles", nlohmann::json::array()}};
      for (const auto& p : *profiles) again["profiles"].push_back(sp::detect::profile_json(p));
      auto reparsed = sp::detect::parse_profiles(again);
      check(reparsed.has_value() && reparsed->size() == profiles->size());
      for (std::size_t i = 0; i < profiles->size(); ++i) {
        check(sp::detect::profile_json((*reparsed)[i]) == again["profiles"][i]);
      }
      break;
    }
    default: {
      auto b = sp::detect::Baseline::from_bytes(text);
      if (!b) return 0;
      check(b->to_bytes() == text);
      (void)b->percentile(99, 0);
      break;
    }
  }
  return 0;
}
