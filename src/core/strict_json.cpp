#include "smartproduct/core/strict_json.hpp"

#include <string>
#include <unordered_set>
#include <vector>

namespace sp::json {

std::string_view describe(StrictJsonError error) {
  switch (error) {
    case StrictJsonError::kSyntax:
      return "not valid JSON";
    case StrictJsonError::kDuplicateKey:
      return "an object names the same member twice";
    case StrictJsonError::kTooDeep:
      return "objects and arrays are nested too deeply";
  }
  return "not valid JSON";
}

namespace {

using Json = nlohmann::json;

// nlohmann's own DOM builder (what plain parse() uses) behind a SAX filter that counts depth and
// remembers the member names of each open object. nlohmann's callback parser can do the same checks
// but costs ~40 % more per device message; this costs a few percent.
class StrictDomBuilder {
 public:
  StrictDomBuilder(Json& out, int max_depth)
      : dom_(out, /*allow_exceptions=*/false), max_depth_(max_depth) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(Json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& s) {
    return dom_.number_float(v, s);
  }
  bool string(Json::string_t& v) { return dom_.string(v); }
  bool binary(Json::binary_t& v) { return dom_.binary(v); }

  bool start_object(std::size_t n) {
    if (!enter()) return false;
    frames_.push_back(Frame{names_.size(), {}});
    return dom_.start_object(n);
  }
  bool key(Json::string_t& name) {
    if (!remember(name)) {
      error_ = StrictJsonError::kDuplicateKey;
      return false;
    }
    return dom_.key(name);
  }
  bool end_object() {
    names_.resize(frames_.back().first_name);
    frames_.pop_back();
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return enter() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& ex) {
    return dom_.parse_error(position, token, ex);
  }

  std::optional<StrictJsonError> error() const { return error_; }

 private:
  struct Frame {
    std::size_t first_name;
    // Only for objects with many members, where a linear scan would be quadratic.
    std::unordered_set<std::size_t> index;
  };
  static constexpr std::size_t kLinearScanMembers = 16;

  bool enter() {
    if (++depth_ > max_depth_) {
      error_ = StrictJsonError::kTooDeep;
      return false;
    }
    return true;
  }

  // Names are remembered by their 64-bit hash, not copied: two different names with one hash would
  // refuse a valid document, which a sender can only arrange on purpose and only for its own input.
  bool remember(const std::string& name) {
    const std::size_t hash = std::hash<std::string_view>{}(name);
    Frame& frame = frames_.back();
    const std::size_t members = names_.size() - frame.first_name;
    if (members < kLinearScanMembers) {
      for (std::size_t i = frame.first_name; i < names_.size(); ++i) {
        if (names_[i] == hash) return false;
      }
    } else {
      if (frame.index.empty()) frame.index.insert(names_.begin() + frame.first_name, names_.end());
      if (!frame.index.insert(hash).second) return false;
    }
    names_.push_back(hash);
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  int max_depth_;
  int depth_ = 0;
  std::vector<std::size_t> names_;
  std::vector<Frame> frames_;
  std::optional<StrictJsonError> error_;
};

}  // namespace

tl::expected<nlohmann::json, StrictJsonError> parse_strict(std::string_view text, int max_depth) {
  // A raw NUL is never valid JSON (control characters must be escaped inside strings), but
  // nlohmann's lexer takes it for the end of input.
  // (find, not memchr: an empty view may have a null data(), which memchr must not get.)
  if (text.find('\0') != std::string_view::npos) {
    return tl::unexpected(StrictJsonError::kSyntax);
  }
  Json value;
  StrictDomBuilder builder(value, max_depth);
  const bool ok = Json::sax_parse(text.begin(), text.end(), &builder, Json::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  if (builder.error()) return tl::unexpected(*builder.error());
  if (!ok || value.is_discarded()) return tl::unexpected(StrictJsonError::kSyntax);
  return value;
}

}  // namespace sp::json
