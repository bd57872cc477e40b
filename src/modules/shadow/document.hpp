#pragma once
// Pure functions of the shadow: parsing an update request, merging, metadata, delta, and the JSON
// payloads AWS publishes. No I/O and no clock: callers pass the time, so everything here is
// unit-testable and fuzzable alone.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "smartproduct/shadow/types.hpp"

namespace sp::shadow {

/// Parses and validates an update payload with AWS's checks and messages, in AWS's order: size
/// (413), JSON (400), clientToken, version, state and its sections, nesting depth, state size
/// (413).
Reply<UpdateRequest> parse_update_request(std::string_view payload, const Limits& limits);

/// The optional clientToken of a get/delete payload (empty payload: none). A payload that is not
/// JSON, or whose token is invalid, is rejected as AWS does for update.
Reply<std::optional<std::string>> parse_client_token(std::string_view payload,
                                                     const Limits& limits);

/// Merges `patch` into `target` (both objects): nested objects merge, null removes a key, anything
/// else (arrays included) replaces the whole value.
void merge_state(nlohmann::json& target, const nlohmann::json& patch);

/// Metadata of `value` written at `timestamp_s`: {"timestamp": s} at each leaf (null included),
/// objects recursed, arrays as an array of their elements' metadata.
nlohmann::json metadata_of(const nlohmann::json& value, std::int64_t timestamp_s);

/// Brings `metadata` in line with `patch` just merged into the state: touched leaves get the new
/// timestamp, removed keys lose their metadata.
void merge_metadata(nlohmann::json& metadata, const nlohmann::json& patch,
                    std::int64_t timestamp_s);

/// Every leaf of `desired` missing from or different in `reported` (objects compared per key,
/// arrays whole); nullopt when there is none.
std::optional<nlohmann::json> compute_delta(const nlohmann::json& desired,
                                            const nlohmann::json& reported);

/// The desired-side metadata of the leaves in `delta`.
nlohmann::json delta_metadata(const nlohmann::json& delta, const nlohmann::json& metadata_desired);

/// Levels of nesting of `value` (a scalar is 0, {"a":1} is 1).
int nesting_depth(const nlohmann::json& value);

/// Bytes of {"desired":…,"reported":…} in compact JSON: what AWS counts against the 8 KiB limit.
std::size_t state_bytes(const nlohmann::json& desired, const nlohmann::json& reported);

/// `base` with `request` applied at `now_s`: sections merged (null clears one), metadata stamped,
/// version + 1, timestamp = now_s. Rejects with 413 when the result exceeds max_state_bytes.
Reply<ShadowDocument> apply_update(const ShadowDocument& base, const UpdateRequest& request,
                                   std::int64_t now_s, const Limits& limits);

/// update/accepted: the request's sections as applied, their metadata, version, timestamp, token.
nlohmann::json accepted_json(const UpdateRequest& request, const ShadowDocument& current);
/// update/delta, or nullopt when desired and reported agree.
std::optional<nlohmann::json> delta_json(const ShadowDocument& current,
                                         const std::optional<std::string>& client_token);
/// update/documents; `previous` absent when the update created the shadow.
nlohmann::json documents_json(const std::optional<ShadowDocument>& previous,
                              const ShadowDocument& current,
                              const std::optional<std::string>& client_token);
// document_json() (get/accepted) is declared in smartproduct/shadow/types.hpp: other modules'
// routes (status) render documents too.

}  // namespace sp::shadow
