// libFuzzer target for the API's request handling below the wire: request-target parsing
// (Boost.URL, percent-decoding, the %2F/%5C/%00 refusals), the router (every method + path of
// src/modules/api/openapi.json, literal-over-parameter matching, 404/405), the dispatcher
// (probes, JSON errors, security headers, request ids) and what every handler shares: JSON
// bodies (strict parser, Content-Type), `limit` and the `lastevalkey` cursor.
// Input: "METHOD TARGET\n" + "name: value\n"... + "\n" + body.
//
// The handlers are one generic handler per documented route, not the modules' own: those need
// the whole in-memory app (store, identity, every service) compiled with clang + ASan, which is
// most of the daemon. Invariants: no 5xx, every response carries X-Request-Id, and every error
// under /api is the JSON error shape with the response's status.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "net/http/dispatcher.hpp"
#include "net/http/target.hpp"
#include "smartproduct/http/paging.hpp"

namespace {

using namespace sp::http;

void check(bool ok) {
  if (!ok) std::abort();
}

Response generic(Request& r) {
  for (const auto& [name, value] : r.params)
    check(!value.empty() && value.find('/') == std::string::npos);
  if (auto limit = page_limit(r); !limit) return Response::error(limit.error());
  auto cursor = page_cursor(r);
  if (!cursor) return Response::error(cursor.error());
  if (r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
    auto body = parse_json_object(r);
    if (!body) return Response::error(body.error());
    check(body->is_object());
  }
  return Response::json(200, page_json(nlohmann::json::array(), *cursor));
}

struct App {
  Router router;
  ServerConfig config;
  std::unique_ptr<Dispatcher> dispatcher;

  App() {
    std::ifstream in(SP_OPENAPI_PATH);
    std::stringstream text;
    text << in.rdbuf();
    const auto doc = nlohmann::json::parse(text.str());
    for (const auto& [path, item] : doc.at("paths").items()) {
      const std::string& pattern = path;
      for (const auto& [method, op] : item.items()) {
        if (method == "parameters") continue;
        std::string m = method;
        for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        router.add(m, pattern, generic);
      }
    }
    config.console_enabled = false;
    dispatcher =
        std::make_unique<Dispatcher>(config, router, [] { return std::vector<std::string>{}; });
  }
};

App& app() {
  static App a;
  return a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& a = app();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Request request;
  auto line_end = input.find('\n');
  const auto first = input.substr(0, line_end);
  const auto space = first.find(' ');
  request.method = std::string(first.substr(0, space));
  request.target = space == std::string_view::npos ? "/" : std::string(first.substr(space + 1));
  input = line_end == std::string_view::npos ? std::string_view() : input.substr(line_end + 1);
  while (!input.empty()) {
    line_end = input.find('\n');
    const auto line = input.substr(0, line_end);
    input = line_end == std::string_view::npos ? std::string_view() : input.substr(line_end + 1);
    if (line.empty()) break;
    const auto colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request.headers.emplace_back(std::move(name), std::string(value));
  }
  request.body = std::string(input);
  request.remote_address = "127.0.0.1";

  Response response;
  if (auto parsed = parse_target(request); !parsed) {
    response = Response::error(parsed.error());
    // 422: a query parameter given twice (InvalidQuery).
    check(response.status == 400 || response.status == 404 || response.status == 422);
    return 0;
  }
  response = a.dispatcher->handle(request);
  check(response.status >= 100 && response.status < 500);
  bool has_id = false;
  for (const auto& [name, value] : response.headers) has_id |= name == "x-request-id";
  check(has_id);
  if (response.status >= 400 && is_api_path(request.path)) {
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    check(body.is_object() && body.value("code", 0) == response.status && body.contains("error") &&
          body["error"].is_string());
  }
  return 0;
}
