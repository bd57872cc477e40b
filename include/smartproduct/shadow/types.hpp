#pragma once
// The device shadow (AWS IoT classic shadow semantics): the stored document, an update request, a
// rejection in AWS's shape, and what an accepted update produces. No MQTT, HTTP or SQLite here.
//
// Times are epoch SECONDS: the shadow is an AWS contract and AWS devices parse them as seconds.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "smartproduct/core/result.hpp"

namespace sp::shadow {

/// AWS's limits for a classic shadow. Defaults are AWS's; tests may lower them.
struct Limits {
  /// desired + reported (compact JSON, without metadata) of the stored document and of a request's
  /// state (AWS: "8 KB"; metadata does not count).
  std::size_t max_state_bytes = 8192;
  /// Levels inside `desired` or `reported` ({"a":1} is one level), as AWS's error message says.
  int max_depth = 6;
  /// A whole request payload (AWS's MQTT payload limit); checked before parsing.
  std::size_t max_payload_bytes = 128 * 1024;
  /// AWS refuses longer client tokens with "Invalid clientToken".
  std::size_t max_client_token_bytes = 64;
};

/// One device's shadow as stored. `desired`/`reported` are objects ({} when empty); the metadata
/// objects mirror them with {"timestamp": s} at every leaf (an array leaf carries an array of
/// per-element metadata).
struct ShadowDocument {
  nlohmann::json desired = nlohmann::json::object();
  nlohmann::json reported = nlohmann::json::object();
  nlohmann::json metadata_desired = nlohmann::json::object();
  nlohmann::json metadata_reported = nlohmann::json::object();
  std::int64_t version = 0;
  /// When the document was last written (epoch s).
  std::int64_t timestamp_s = 0;
};

/// A parsed update request. A section is nullopt when the request did not name it, JSON null when
/// the request clears it ("desired": null), or an object patch.
struct UpdateRequest {
  std::optional<nlohmann::json> desired;
  std::optional<nlohmann::json> reported;
  std::optional<std::string> client_token;
  /// Optimistic locking: the update applies only if the shadow is at this version.
  std::optional<std::int64_t> version;
};

/// A refusal, published on .../rejected as {"code","message","timestamp","clientToken"?}. `code`
/// is AWS's HTTP-like status; `message` is AWS's exact text; `detail` is only logged.
struct Rejection {
  int code = 500;
  std::string message;
  std::optional<std::string> client_token;
  std::string detail;

  /// The rejected-topic payload, stamped with `timestamp_s`.
  nlohmann::json to_json(std::int64_t timestamp_s) const;
  /// The same refusal as a service Error (for the REST binding); names are PascalCase.
  Error to_error() const;
};

/// AWS's messages (device-shadow-error-messages), one constant each so tests and bindings agree.
namespace msg {
inline constexpr const char* kInvalidJson = "Invalid JSON";
inline constexpr const char* kMissingState = "Missing required node: state";
inline constexpr const char* kStateNotObject = "State node must be an object";
inline constexpr const char* kDesiredNotObject = "Desired node must be an object";
inline constexpr const char* kReportedNotObject = "Reported node must be an object";
inline constexpr const char* kInvalidVersion = "Invalid version";
inline constexpr const char* kInvalidClientToken = "Invalid clientToken";
inline constexpr const char* kTooDeep = "JSON contains too many levels of nesting; maximum is ";
inline constexpr const char* kInvalidNode = "State contains an invalid node";
inline constexpr const char* kVersionConflict = "Version conflict";
inline constexpr const char* kTooLarge = "The payload exceeds the maximum size allowed";
inline constexpr const char* kNotUtf8 =
    "Unsupported documented encoding; supported encoding is UTF-8";
inline constexpr const char* kInternal = "Internal service failure";
}  // namespace msg

/// A shadow operation's outcome: the value, or the rejection to publish.
template <class T>
using Reply = tl::expected<T, Rejection>;

/// What an accepted update produces: the payloads to publish (after the write committed, which it
/// has when this is returned) and the documents for the event bus.
struct UpdateOutcome {
  /// .../update/accepted: the applied part of the request, metadata of its leaves, version,
  /// timestamp, clientToken.
  std::string accepted;
  /// .../update/delta: every leaf where desired differs from reported, with its desired metadata;
  /// nullopt when desired and reported agree.
  std::optional<std::string> delta;
  /// .../update/documents: {previous?, current, timestamp, clientToken?}; `previous` is absent
  /// when the update created the shadow.
  std::string documents;
  std::optional<ShadowDocument> previous;
  ShadowDocument current;
};

/// What a delete produces.
struct DeleteOutcome {
  /// .../delete/accepted: {version, timestamp, clientToken?}.
  std::string accepted;
  /// The version the deleted document had (a shadow created again within 48 h continues from it).
  std::int64_t version = 0;
};

/// The full document as get/accepted, GET /api/devices/{id}/shadow and the status route show it:
/// {state:{desired?,reported?,delta?}, metadata:{desired?,reported?}, version, timestamp,
/// clientToken?}; empty sections are left out as AWS does. `timestamp_s` is the response time.
nlohmann::json document_json(const ShadowDocument& document, std::int64_t timestamp_s,
                             const std::optional<std::string>& client_token = std::nullopt);

}  // namespace sp::shadow
