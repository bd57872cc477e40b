#include "smartproduct/telemetry/pipeline.hpp"

#include <algorithm>

namespace sp::telemetry {
namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '-'; }

struct Cursor {
  std::string_view text;
  std::size_t pos = 0;
  void skip() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
  }
  bool at_end() {
    skip();
    return pos >= text.size();
  }
  std::string_view word() {
    skip();
    const std::size_t start = pos;
    if (pos < text.size() && is_name_start(text[pos])) {
      while (pos < text.size() && is_name_char(text[pos])) ++pos;
    }
    return text.substr(start, pos - start);
  }
  // An attribute name; enrich also accepts details.KEY.
  std::string_view name(bool dotted) {
    skip();
    const std::size_t start = pos;
    if (pos < text.size() && is_name_start(text[pos])) {
      while (pos < text.size() && (is_name_char(text[pos]) || (dotted && text[pos] == '.'))) ++pos;
    }
    return text.substr(start, pos - start);
  }
};

tl::unexpected<PipelineError> fail(std::size_t index, std::size_t offset, std::string message) {
  return tl::unexpected(PipelineError{index, offset, std::move(message)});
}

bool valid_enrich(std::string_view name) {
  if (name == "deviceName" || name == "modelNumber" || name == "userId" || name == "details")
    return true;
  return name.starts_with("details.") && name.size() > 8 &&
         name.find('.', 8) == std::string_view::npos;
}

}  // namespace

const std::vector<std::string>& Pipeline::default_activities() {
  static const std::vector<std::string> kSeed = {
      "math actualTemperatureC = round((num(actualTemperature) - 32) * 5 / 9, 2)",
      "math targetTemperatureC = round((num(targetTemperature) - 32) * 5 / 9, 2)",
      "math sentAtUtc = iso(timestamp)",
      "math createdAtUtc = iso(timestamp)",
  };
  return kSeed;
}

tl::expected<Pipeline, PipelineError> Pipeline::compile(
    const std::vector<std::string>& activities) {
  Pipeline out;
  for (std::size_t i = 0; i < activities.size(); ++i) {
    Cursor c{activities[i]};
    c.skip();
    const std::size_t kind_at = c.pos;
    const std::string_view kind = c.word();
    Activity a{};
    auto compile_rest = [&]() -> std::optional<PipelineError> {
      c.skip();
      const std::size_t start = c.pos;
      auto program = expr::compile(c.text.substr(start));
      if (!program) {
        return PipelineError{i, start + program.error().position, program.error().message};
      }
      a.program = std::move(*program);
      return std::nullopt;
    };
    auto name_list = [&](bool dotted) -> std::optional<PipelineError> {
      for (;;) {
        const std::size_t at = (c.skip(), c.pos);
        const std::string_view n = c.name(dotted);
        if (n.empty()) return PipelineError{i, at, "expected an attribute name"};
        if (a.kind == Activity::Kind::kEnrich && !valid_enrich(n)) {
          return PipelineError{i, at,
                               "enrich adds deviceName, modelNumber, userId, details or "
                               "details.KEY, not '" +
                                   std::string(n) + "'"};
        }
        a.names.emplace_back(n);
        c.skip();
        if (c.at_end()) return std::nullopt;
        if (c.text[c.pos] != ',') return PipelineError{i, c.pos, "expected ',' or the end"};
        ++c.pos;
      }
    };
    std::optional<PipelineError> err;
    if (kind == "filter") {
      a.kind = Activity::Kind::kFilter;
      err = compile_rest();
    } else if (kind == "math") {
      a.kind = Activity::Kind::kMath;
      const std::size_t at = (c.skip(), c.pos);
      a.name = std::string(c.name(false));
      if (a.name.empty()) return fail(i, at, "expected the attribute name after math");
      c.skip();
      if (c.pos >= c.text.size() || c.text[c.pos] != '=') {
        return fail(i, c.pos, "expected '=' after the attribute name");
      }
      ++c.pos;
      err = compile_rest();
    } else if (kind == "enrich" || kind == "select" || kind == "remove") {
      a.kind = kind == "enrich"   ? Activity::Kind::kEnrich
               : kind == "select" ? Activity::Kind::kSelect
                                  : Activity::Kind::kRemove;
      err = name_list(a.kind == Activity::Kind::kEnrich);
      if (a.kind == Activity::Kind::kEnrich) out.needs_device_ = true;
    } else if (kind == "rename") {
      a.kind = Activity::Kind::kRename;
      std::size_t at = (c.skip(), c.pos);
      a.name = std::string(c.name(false));
      if (a.name.empty()) return fail(i, at, "expected the attribute to rename");
      at = (c.skip(), c.pos);
      if (c.word() != "to") return fail(i, at, "expected 'to'");
      at = (c.skip(), c.pos);
      a.to = std::string(c.name(false));
      if (a.to.empty()) return fail(i, at, "expected the new name");
      if (!c.at_end()) return fail(i, c.pos, "unexpected text after the new name");
    } else {
      return fail(i, kind_at,
                  "unknown activity '" + std::string(kind) +
                      "' (filter, math, enrich, select, remove, rename)");
    }
    if (err) return tl::unexpected(*err);
    out.note_added_names(a);
    out.activities_.push_back(std::move(a));
  }
  return out;
}

void Pipeline::note_added_names(const Activity& a) {
  if (!added_names_) return;
  auto add = [this](std::string_view n) {
    auto& names = *added_names_;
    if (std::find(names.begin(), names.end(), n) == names.end()) names.emplace_back(n);
  };
  switch (a.kind) {
    case Activity::Kind::kFilter:
      break;
    case Activity::Kind::kMath:
      add(a.name);
      break;
    case Activity::Kind::kEnrich:
      for (const auto& n : a.names)
        add(n.starts_with("details.") ? std::string_view(n).substr(8) : n);
      break;
    case Activity::Kind::kSelect:
    case Activity::Kind::kRemove:
    case Activity::Kind::kRename:
      added_names_.reset();
      break;
  }
}

bool Pipeline::apply(nlohmann::json& message, const DeviceAttributes* device, std::int64_t now_ms,
                     expr::Evaluator& evaluator) const {
  for (const auto& a : activities_) {
    switch (a.kind) {
      case Activity::Kind::kFilter: {
        expr::JsonFields fields(message);
        if (!evaluator.evaluate(*a.program, fields, now_ms).truthy()) return false;
        break;
      }
      case Activity::Kind::kMath: {
        expr::JsonFields fields(message);
        const expr::Value v = evaluator.evaluate(*a.program, fields, now_ms);
        if (!v.is_null()) message[a.name] = v.to_json();
        break;
      }
      case Activity::Kind::kEnrich:
        if (!device) break;
        for (const auto& n : a.names) {
          if (n == "deviceName") {
            message["deviceName"] = device->device_name;
          } else if (n == "modelNumber") {
            message["modelNumber"] = device->model_number;
          } else if (n == "userId") {
            message["userId"] = device->user_id;
          } else if (n == "details") {
            message["details"] = device->details;
          } else {
            const std::string key = n.substr(8);
            if (device->details.is_object()) {
              auto it = device->details.find(key);
              if (it != device->details.end()) message[key] = *it;
            }
          }
        }
        break;
      case Activity::Kind::kSelect: {
        nlohmann::json kept = nlohmann::json::object();
        for (const auto& n : a.names) {
          auto it = message.find(n);
          if (it != message.end()) kept[n] = std::move(*it);
        }
        message = std::move(kept);
        break;
      }
      case Activity::Kind::kRemove:
        for (const auto& n : a.names) message.erase(n);
        break;
      case Activity::Kind::kRename: {
        auto it = message.find(a.name);
        if (it == message.end() || a.name == a.to) break;
        nlohmann::json v = std::move(*it);
        message.erase(a.name);
        message[a.to] = std::move(v);
        break;
      }
    }
  }
  return true;
}

}  // namespace sp::telemetry
