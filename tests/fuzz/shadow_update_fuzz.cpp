// libFuzzer target for the shadow's update parser: a device controls the whole payload. Parses it,
// and when it is accepted applies it twice on top of a small document and renders every payload,
// so merge, metadata, delta and the JSON writers see attacker-shaped input too. Crashes, sanitizer
// reports and broken invariants (checked below) are findings.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "modules/shadow/document.hpp"

namespace {

using nlohmann::json;
using namespace sp::shadow;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  Limits limits;
  auto request = parse_update_request(payload, limits);
  if (!request) {
    const Rejection& r = request.error();
    check(r.code == 400 || r.code == 413 || r.code == 415);
    check(!r.message.empty());
    (void)r.to_json(0).dump();
    return 0;
  }
  check(!request->client_token || request->client_token->size() <= limits.max_client_token_bytes);
  check(!request->version || *request->version >= 0);

  ShadowDocument base;
  base.desired = json{{"a", 1}, {"o", {{"x", "y"}}}};
  base.reported = json{{"a", 2}, {"l", {1, 2}}};
  base.metadata_desired = metadata_of(base.desired, 1);
  base.metadata_reported = metadata_of(base.reported, 1);
  base.version = 3;
  std::optional<ShadowDocument> previous = base;
  for (int round = 0; round < 2; ++round) {
    auto next = apply_update(*previous, *request, 100 + round, limits);
    if (!next) {
      check(next.error().code == 413);
      return 0;
    }
    check(next->version == previous->version + 1);
    check(next->desired.is_object() && next->reported.is_object());
    check(state_bytes(next->desired, next->reported) <= limits.max_state_bytes);
    (void)accepted_json(*request, *next).dump();
    if (auto delta = delta_json(*next, request->client_token)) {
      check(!delta->at("state").empty());
      (void)delta->dump();
    }
    (void)documents_json(previous, *next, request->client_token).dump();
    (void)document_json(*next, 200, request->client_token).dump();
    previous = std::move(*next);
  }
  return 0;
}
