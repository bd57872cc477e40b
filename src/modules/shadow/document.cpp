#include "modules/shadow/document.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include "smartproduct/core/strict_json.hpp"

namespace sp::shadow {
namespace {

using nlohmann::json;

// nlohmann's parser is iterative, but dump(), comparison and our own recursive helpers are not: a
// payload of 100k '[' would overflow the stack there. AWS refuses anything deeper than a handful
// of levels anyway, so refuse absurd nesting before parsing, by a linear scan of the raw text.
constexpr int kMaxRawNesting = 64;

bool raw_nesting_exceeds(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. AWS answers a payload that
// is not UTF-8 with 415 rather than "Invalid JSON", so it is checked apart from the parser.
bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return false;
    }
    i += len;
  }
  return true;
}

tl::unexpected<Rejection> reject(int code, std::string message,
                                 std::optional<std::string> client_token = std::nullopt) {
  return tl::unexpected<Rejection>(
      Rejection{code, std::move(message), std::move(client_token), {}});
}

// A metadata leaf is {"timestamp": <number>}; the metadata of a state object is an object whose
// members are objects or arrays, so the two cannot be confused even for a state key "timestamp".
bool is_metadata_leaf(const json& m) {
  if (!m.is_object() || m.size() != 1) return false;
  auto it = m.find("timestamp");
  return it != m.end() && it->is_number();
}

}  // namespace

json Rejection::to_json(std::int64_t timestamp_s) const {
  json out = {{"code", code}, {"message", message}, {"timestamp", timestamp_s}};
  if (client_token) out["clientToken"] = *client_token;
  return out;
}

Error Rejection::to_error() const {
  switch (code) {
    case 400:
      return Error{ErrorKind::kBadRequest, "InvalidShadowRequest", message, detail};
    case 404:
      return Error{ErrorKind::kNotFound, "ShadowNotFound", message, detail};
    case 415:
      return Error{ErrorKind::kBadRequest, "UnsupportedEncoding", message, detail};
    case 409:
      return Error{ErrorKind::kConflict, "VersionConflict", message, detail};
    case 413:
      return Error{ErrorKind::kPayloadTooLarge, "ShadowTooLarge", message, detail};
    default:
      return Error{ErrorKind::kInternal, "ShadowServiceFailure", message, detail};
  }
}

Reply<UpdateRequest> parse_update_request(std::string_view payload, const Limits& limits) {
  if (payload.size() > limits.max_payload_bytes) return reject(413, msg::kTooLarge);
  if (!valid_utf8(payload)) return reject(415, msg::kNotUtf8);
  const std::string too_deep = msg::kTooDeep + std::to_string(limits.max_depth);
  if (raw_nesting_exceeds(payload, kMaxRawNesting)) return reject(400, too_deep);
  auto parsed = sp::json::parse_strict(payload, kMaxRawNesting);
  if (!parsed || !parsed->is_object()) return reject(400, msg::kInvalidJson);
  json root = std::move(*parsed);

  UpdateRequest request;
  // The token first: every later rejection echoes it so the device can match the answer.
  if (auto it = root.find("clientToken"); it != root.end()) {
    if (!it->is_string() ||
        it->get_ref<const std::string&>().size() > limits.max_client_token_bytes)
      return reject(400, msg::kInvalidClientToken);
    request.client_token = it->get<std::string>();
  }
  const auto& token = request.client_token;
  if (auto it = root.find("version"); it != root.end()) {
    if (it->is_number_unsigned()) {
      if (it->get<std::uint64_t>() >
          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return reject(400, msg::kInvalidVersion, token);
      request.version = static_cast<std::int64_t>(it->get<std::uint64_t>());
    } else if (it->is_number_integer() && it->get<std::int64_t>() >= 0) {
      request.version = it->get<std::int64_t>();
    } else {
      return reject(400, msg::kInvalidVersion, token);
    }
  }
  auto state = root.find("state");
  if (state == root.end()) return reject(400, msg::kMissingState, token);
  if (!state->is_object()) return reject(400, msg::kStateNotObject, token);
  for (auto& [key, value] : state->items()) {
    if (key == "desired") {
      if (!value.is_object() && !value.is_null()) return reject(400, msg::kDesiredNotObject, token);
      request.desired = value;
    } else if (key == "reported") {
      if (!value.is_object() && !value.is_null())
        return reject(400, msg::kReportedNotObject, token);
      request.reported = value;
    } else {
      return reject(400, msg::kInvalidNode, token);
    }
  }
  for (const auto* section : {&request.desired, &request.reported}) {
    if (*section && nesting_depth(**section) > limits.max_depth)
      return reject(400, too_deep, token);
  }
  const json empty = json::object();
  const json& d = request.desired && request.desired->is_object() ? *request.desired : empty;
  const json& r = request.reported && request.reported->is_object() ? *request.reported : empty;
  if (state_bytes(d, r) > limits.max_state_bytes) return reject(413, msg::kTooLarge, token);
  return request;
}

Reply<std::optional<std::string>> parse_client_token(std::string_view payload,
                                                     const Limits& limits) {
  if (payload.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return std::optional<std::string>{};
  }
  if (payload.size() > limits.max_payload_bytes) return reject(413, msg::kTooLarge);
  if (!valid_utf8(payload)) return reject(415, msg::kNotUtf8);
  if (raw_nesting_exceeds(payload, kMaxRawNesting)) {
    return reject(400, msg::kTooDeep + std::to_string(limits.max_depth));
  }
  auto parsed = sp::json::parse_strict(payload, kMaxRawNesting);
  if (!parsed || !parsed->is_object()) return reject(400, msg::kInvalidJson);
  json root = std::move(*parsed);
  auto it = root.find("clientToken");
  if (it == root.end()) return std::optional<std::string>{};
  if (!it->is_string() || it->get_ref<const std::string&>().size() > limits.max_client_token_bytes)
    return reject(400, msg::kInvalidClientToken);
  return std::optional<std::string>(it->get<std::string>());
}

void merge_state(json& target, const json& patch) {
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else if (value.is_object()) {
      json& slot = target[key];
      if (!slot.is_object()) slot = json::object();
      merge_state(slot, value);
    } else {
      target[key] = value;
    }
  }
}

json metadata_of(const json& value, std::int64_t timestamp_s) {
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, child] : value.items()) out[key] = metadata_of(child, timestamp_s);
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& element : value) out.push_back(metadata_of(element, timestamp_s));
    return out;
  }
  return json{{"timestamp", timestamp_s}};
}

void merge_metadata(json& metadata, const json& patch, std::int64_t timestamp_s) {
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      metadata.erase(key);
    } else if (value.is_object()) {
      json& slot = metadata[key];
      // The key held a scalar or an array before: its old metadata does not describe an object.
      if (!slot.is_object() || is_metadata_leaf(slot)) slot = json::object();
      merge_metadata(slot, value, timestamp_s);
    } else {
      metadata[key] = metadata_of(value, timestamp_s);
    }
  }
}

std::optional<json> compute_delta(const json& desired, const json& reported) {
  json out = json::object();
  for (const auto& [key, want] : desired.items()) {
    auto have = reported.find(key);
    if (have == reported.end()) {
      out[key] = want;
    } else if (want.is_object() && have->is_object()) {
      if (auto sub = compute_delta(want, *have)) out[key] = std::move(*sub);
    } else if (want != *have) {
      out[key] = want;
    }
  }
  if (out.empty()) return std::nullopt;
  return out;
}

json delta_metadata(const json& delta, const json& metadata_desired) {
  json out = json::object();
  for (const auto& [key, value] : delta.items()) {
    auto it = metadata_desired.find(key);
    if (it == metadata_desired.end()) continue;
    if (value.is_object() && it->is_object() && !is_metadata_leaf(*it)) {
      out[key] = delta_metadata(value, *it);
    } else {
      out[key] = *it;
    }
  }
  return out;
}

int nesting_depth(const json& value) {
  if (!value.is_structured()) return 0;
  int deepest = 0;
  for (const auto& child : value) deepest = std::max(deepest, nesting_depth(child));
  return deepest + 1;
}

std::size_t state_bytes(const json& desired, const json& reported) {
  // {"desired":D,"reported":R}: the fixed characters plus the two values.
  return std::string_view(R"({"desired":,"reported":})").size() + desired.dump().size() +
         reported.dump().size();
}

Reply<ShadowDocument> apply_update(const ShadowDocument& base, const UpdateRequest& request,
                                   std::int64_t now_s, const Limits& limits) {
  ShadowDocument next = base;
  auto apply = [now_s](const std::optional<json>& patch, json& section, json& metadata) {
    if (!patch) return;
    if (patch->is_null()) {
      section = json::object();
      metadata = json::object();
      return;
    }
    merge_state(section, *patch);
    merge_metadata(metadata, *patch, now_s);
  };
  apply(request.desired, next.desired, next.metadata_desired);
  apply(request.reported, next.reported, next.metadata_reported);
  if (state_bytes(next.desired, next.reported) > limits.max_state_bytes) {
    return reject(413, msg::kTooLarge, request.client_token);
  }
  next.version = base.version + 1;
  next.timestamp_s = now_s;
  return next;
}

json accepted_json(const UpdateRequest& request, const ShadowDocument& current) {
  json state = json::object();
  json metadata = json::object();
  if (request.desired) {
    state["desired"] = *request.desired;
    metadata["desired"] = metadata_of(*request.desired, current.timestamp_s);
  }
  if (request.reported) {
    state["reported"] = *request.reported;
    metadata["reported"] = metadata_of(*request.reported, current.timestamp_s);
  }
  json out = {{"state", std::move(state)},
              {"metadata", std::move(metadata)},
              {"version", current.version},
              {"timestamp", current.timestamp_s}};
  if (request.client_token) out["clientToken"] = *request.client_token;
  return out;
}

std::optional<json> delta_json(const ShadowDocument& current,
                               const std::optional<std::string>& client_token) {
  auto delta = compute_delta(current.desired, current.reported);
  if (!delta) return std::nullopt;
  json out = {{"version", current.version},
              {"timestamp", current.timestamp_s},
              {"metadata", delta_metadata(*delta, current.metadata_desired)},
              {"state", std::move(*delta)}};
  if (client_token) out["clientToken"] = *client_token;
  return out;
}

namespace {
json snapshot(const ShadowDocument& d) {
  return {{"state", {{"desired", d.desired}, {"reported", d.reported}}},
          {"metadata", {{"desired", d.metadata_desired}, {"reported", d.metadata_reported}}},
          {"version", d.version}};
}
}  // namespace

json documents_json(const std::optional<ShadowDocument>& previous, const ShadowDocument& current,
                    const std::optional<std::string>& client_token) {
  json out = {{"current", snapshot(current)}, {"timestamp", current.timestamp_s}};
  if (previous) out["previous"] = snapshot(*previous);
  if (client_token) out["clientToken"] = *client_token;
  return out;
}

json document_json(const ShadowDocument& document, std::int64_t timestamp_s,
                   const std::optional<std::string>& client_token) {
  json state = json::object();
  json metadata = json::object();
  if (!document.desired.empty()) {
    state["desired"] = document.desired;
    metadata["desired"] = document.metadata_desired;
  }
  if (!document.reported.empty()) {
    state["reported"] = document.reported;
    metadata["reported"] = document.metadata_reported;
  }
  if (auto delta = compute_delta(document.desired, document.reported)) {
    state["delta"] = std::move(*delta);
  }
  json out = {{"state", std::move(state)},
              {"metadata", std::move(metadata)},
              {"version", document.version},
              {"timestamp", timestamp_s}};
  if (client_token) out["clientToken"] = *client_token;
  return out;
}

}  // namespace sp::shadow
