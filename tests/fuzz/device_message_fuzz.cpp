// libFuzzer target for the device-message parser and validator every ingest path shares
// (core/device_message.cpp: topic → device id, size, strict JSON, object, deviceId) and the
// epoch-ms field reader. Input: "<topic>\n<payload>". Invariants for an accepted message: the
// topic has exactly the prefix and a valid device id, the body is an object that does not name
// another device, and the payload was within the limit. Crashes and sanitizer reports too.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smartproduct/core/device_message.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nl = input.find('\n');
  const auto topic = input.substr(0, nl);
  const auto payload = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  constexpr std::string_view kPrefix = "smartproduct/telemetry";
  constexpr std::size_t kMax = 4096;

  const auto id = sp::device_id_from_topic(kPrefix, topic);
  if (id) check(sp::is_valid_device_id(*id) && topic == std::string(kPrefix) + "/" + *id);

  const auto r = sp::parse_device_message(kPrefix, topic, payload, kMax);
  if (r.message) {
    check(id && r.message->device_id == *id);
    check(payload.size() <= kMax);
    check(payload.find('\0') == std::string_view::npos);
    const auto& body = r.message->body;
    check(body.is_object());
    if (auto d = body.find("deviceId"); d != body.end()) {
      check(d->is_string() && d->get<std::string>() == *id);
    }
    for (const char* key : {"timestamp", "sentAt"}) {
      if (auto ms = sp::epoch_ms_field(body, key)) {
        check(*ms >= 946684800000LL && *ms < 4102444800000LL);
      }
    }
    (void)sp::to_string(r.rejection);
  } else {
    check(!sp::to_string(r.rejection).empty());
  }
  return 0;
}
