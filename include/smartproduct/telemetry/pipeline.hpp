#pragma once
// The telemetry pipeline ([telemetry.pipeline] activities): an ordered list of activities applied
// to every message before the commit that precedes its PUBACK. One activity per string:
//
//   filter EXPR                  drop the message unless EXPR is true
//   math NAME = EXPR             set attribute NAME to EXPR (left unchanged when EXPR is null)
//   enrich ATTR[, ATTR...]       add registry attributes: deviceName, modelNumber, userId (the
//                                owner), details (the catalog entry's details), details.KEY
//                                (one of them, as attribute KEY)
//   select NAME[, NAME...]       keep only these attributes
//   remove NAME[, NAME...]       drop these attributes
//   rename OLD to NEW            rename an attribute
//
// Expressions are sp_expr (smartproduct/expr/expr.hpp), compiled once at startup. The default
// pipeline is the seed's Lambda transform (seed-behaviour.md §15), see default_activities().

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "smartproduct/expr/expr.hpp"

namespace sp::telemetry {

/// The registry attributes `enrich` may add (a snapshot of the device's live registration).
struct DeviceAttributes {
  std::string device_name;
  std::string model_number;
  std::string user_id;
  nlohmann::json details = nlohmann::json::object();
};

/// A problem in activity `index`, `offset` characters into its text.
struct PipelineError {
  std::size_t index = 0;
  std::size_t offset = 0;
  std::string message;
};

class Pipeline {
 public:
  /// Compiles the activities; the first problem is returned with its position.
  static tl::expected<Pipeline, PipelineError> compile(const std::vector<std::string>& activities);
  /// The seed's transform: actualTemperatureC / targetTemperatureC = (F - 32) * 5 / 9 rounded to 2
  /// decimals when present; sentAtUtc and createdAtUtc = ISO-8601 UTC with milliseconds of
  /// `timestamp` when present.
  static const std::vector<std::string>& default_activities();

  /// Applies the activities to `message` (a JSON object) in order. False when a filter dropped it.
  /// `device` is null for an unregistered device (enrich then adds nothing).
  bool apply(nlohmann::json& message, const DeviceAttributes* device, std::int64_t now_ms,
             expr::Evaluator& evaluator) const;

  /// True when an activity reads registry attributes.
  bool needs_device() const { return needs_device_; }
  /// When the activities only add attributes (filter, math, enrich): the names they may add, in
  /// the order first added, each once. Empty when an activity may remove or rename one.
  const std::optional<std::vector<std::string>>& added_names() const { return added_names_; }
  std::size_t size() const { return activities_.size(); }

 private:
  struct Activity {
    enum class Kind { kFilter, kMath, kEnrich, kSelect, kRemove, kRename } kind;
    std::string name;                // math: target; rename: old name
    std::string to;                  // rename: new name
    std::vector<std::string> names;  // enrich / select / remove
    std::optional<expr::Program> program;
  };
  void note_added_names(const Activity& a);

  std::vector<Activity> activities_;
  bool needs_device_ = false;
  std::optional<std::vector<std::string>> added_names_ = std::vector<std::string>{};
};

}  // namespace sp::telemetry
