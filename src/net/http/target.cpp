#include "net/http/target.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "smartproduct/http/errors.hpp"

namespace sp::http {
namespace {

bool contains_icase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool equal = true;
    for (size_t j = 0; j < needle.size() && equal; ++j) {
      char a = haystack[i + j];
      if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
      equal = a == needle[j];
    }
    if (equal) return true;
  }
  return false;
}

}  // namespace

std::string_view encoded_path_of(std::string_view target) {
  return target.substr(0, target.find_first_of("?#"));
}

Result<void> parse_target(Request& request) {
  auto parsed = boost::urls::parse_origin_form(request.target);
  if (!parsed) {
    return fail(ErrorKind::kBadRequest, "BadRequest", "malformed request target");
  }
  std::string_view encoded(parsed->encoded_path().data(), parsed->encoded_path().size());
  if (encoded.find('\\') != std::string_view::npos || contains_icase(encoded, "%2f") ||
      contains_icase(encoded, "%5c") || contains_icase(encoded, "%00")) {
    return fail(ErrorKind::kNotFound, "NotFound", "no such resource");
  }
  request.path = parsed->path();
  request.query.clear();
  // space_as_plus: browsers encode form-style queries with '+'. A parameter given twice is
  // refused: which of the two a route would read is an accident of the parser, and a filter
  // that silently drops one of two values answers a different question than was asked.
  for (auto param : parsed->params(boost::urls::encoding_opts(true))) {
    if (!request.query.emplace(param.key, param.has_value ? param.value : std::string()).second) {
      return fail(errors::kInvalidQuery,
                  "query parameter '" + param.key.substr(0, 64) + "' is given more than once.");
    }
  }
  return {};
}

}  // namespace sp::http
