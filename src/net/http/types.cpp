// Transport-neutral request/response helpers declared in smartproduct/http/types.hpp.

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "smartproduct/http/types.hpp"

#include "smartproduct/core/strict_json.hpp"

namespace sp::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
  auto it = query.find(std::string(name));
  if (it == query.end()) return std::nullopt;
  return std::string_view(it->second);
}

const std::string& Request::param(const std::string& name) const {
  auto it = params.find(name);
  // A handler asking for a parameter its pattern does not declare is a programming error.
  if (it == params.end()) throw std::out_of_range("no path parameter named " + name);
  return it->second;
}

Response Response::json(int status, const nlohmann::json& body) {
  Response response;
  response.status = status;
  // replace: invalid UTF-8 in a string must not turn a response into an exception.
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  response.set_header("content-type", "application/json");
  return response;
}

Response Response::error(const Error& error) {
  // A store failure that reached a route unmapped: never send the store's own words.
  if (store::failure_of(error)) return Response::error(errors::from_store(error));
  // The catalogue, not the kind a call site happened to pick, decides the status of a name.
  const auto* code = errors::find(error.name);
  const int status = code != nullptr ? code->status() : http_status(error.kind);
  auto response =
      json(status, {{"code", status}, {"error", error.name}, {"message", error.message}});
  if (status >= 500) response.cause = error.detail.empty() ? error.name : error.detail;
  return response;
}

Response Response::error(const errors::Code& code, std::string message) {
  return error(code.error(std::move(message)));
}

Response Response::error(ErrorKind kind, std::string name, std::string message) {
  return error(Error{kind, std::move(name), std::move(message), {}});
}

void Response::set_header(std::string name, std::string value) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (auto& [key, existing] : headers) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

Result<nlohmann::json> parse_json_object(const Request& request) {
  // A body must say it is JSON (parameters such as charset are fine). A browser sends a
  // cross-site "simple" request (no preflight) only without a Content-Type or with text/plain,
  // form-urlencoded or multipart: requiring JSON keeps such posts away from every JSON route.
  const auto type = request.header("content-type");
  if (!type && !request.body.empty()) return fail(errors::kUnsupportedMediaType);
  if (type) {
    std::string_view media = trim(type->substr(0, type->find(';')));
    const bool is_json = iequals(media, "application/json") ||
                         (media.size() > 5 && iequals(media.substr(media.size() - 5), "+json"));
    if (!is_json) {
      return fail(errors::kUnsupportedMediaType);
    }
  }
  auto parsed = json::parse_strict(request.body);
  if (!parsed) {
    if (parsed.error() == json::StrictJsonError::kSyntax) return fail(errors::kInvalidJson);
    return fail(errors::kInvalidJson,
                "the request body is not accepted: " + std::string(json::describe(parsed.error())));
  }
  if (!parsed->is_object()) {
    return fail(errors::kInvalidJson, "the request body must be a JSON object");
  }
  return std::move(*parsed);
}

}  // namespace sp::http
