#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "net/http/dispatcher.hpp"
#include "net/http/target.hpp"
#include "smartproduct/core/logging.hpp"
#include "temp_dir.hpp"

namespace sp::http {
namespace {

using testing::TempDir;

std::string header_of(const Response& response, std::string_view name) {
  for (auto& [k, v] : response.headers) {
    if (k == name) return v;
  }
  return {};
}

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_.write("web/index.html", "<!doctype html>");
    tmp_.write("web/api/leak.json", "{\"leak\":true}");
    config_.web_root = tmp_.path() / "web";
    router_.add("GET", "/api/things/{id}", [](Request& r) {
      return Response::json(200, {{"id", r.param("id")}, {"q", r.query_param("q").value_or("")}});
    });
    router_.add("POST", "/api/boom",
                [](Request&) -> Response { throw std::runtime_error("handler bug"); });
    router_.add("GET", "/metrics", [](Request&) { return Response::json(200, {{"m", 1}}); });
    router_.add("GET", "/api/stores/{id}", [](Request&) {
      spdlog::info("handler line");
      return Response::error(
          Error{ErrorKind::kInternal, "InternalError", "internal error", "disk I/O error (10)"});
    });
  }

  Response get(std::string method, std::string target, Headers headers = {}) {
    Dispatcher dispatcher(config_, router_, [this] { return reasons_; });
    Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.headers = std::move(headers);
    auto parsed = parse_target(request);
    EXPECT_TRUE(parsed.has_value());
    return dispatcher.handle(request);
  }

  TempDir tmp_;
  ServerConfig config_;
  Router router_;
  std::vector<std::string> reasons_;
};

TEST_F(DispatcherTest, Healthz) {
  auto response = get("GET", "/healthz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(nlohmann::json::parse(response.body), (nlohmann::json{{"status", "ok"}}));
  auto post = get("POST", "/healthz");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(header_of(post, "allow"), "GET, HEAD");
}

TEST_F(DispatcherTest, ReadyzFollowsProbe) {
  EXPECT_EQ(get("GET", "/readyz").status, 200);
  reasons_ = {"database closed", "broker unreachable"};
  auto response = get("GET", "/readyz");
  EXPECT_EQ(response.status, 503);
  auto body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body.at("code"), 503);
  EXPECT_EQ(body.at("error"), "NotReady");
  EXPECT_EQ(body.at("reasons"), nlohmann::json(reasons_));
}

TEST_F(DispatcherTest, RoutesWithParamsAndQuery) {
  auto response = get("GET", "/api/things/a%20b?q=1");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(nlohmann::json::parse(response.body), (nlohmann::json{{"id", "a b"}, {"q", "1"}}));
  EXPECT_EQ(header_of(response, "cache-control"), "no-store");
}

TEST_F(DispatcherTest, ApiNeverFallsBackToFiles) {
  auto response = get("GET", "/api/leak.json");
  EXPECT_EQ(response.status, 404);
  auto body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body, (nlohmann::json{
                      {"code", 404}, {"error", "NotFound"}, {"message", "no such resource"}}));
  EXPECT_EQ(get("GET", "/api/nothing-here").status, 404);  // no SPA fallback under /api
}

TEST_F(DispatcherTest, WrongMethodIs405WithAllow) {
  auto response = get("DELETE", "/api/things/1");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(nlohmann::json::parse(response.body).at("error"), "MethodNotAllowed");
  EXPECT_EQ(header_of(response, "allow"), "GET, HEAD");
  EXPECT_EQ(get("POST", "/devices").status, 405);  // console paths are read-only
}

TEST_F(DispatcherTest, HandlerExceptionBecomes500) {
  auto response = get("POST", "/api/boom");
  EXPECT_EQ(response.status, 500);
  auto body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body.at("error"), "InternalError");
  EXPECT_EQ(response.body.find("handler bug"), std::string::npos);  // no internals leak
}

TEST_F(DispatcherTest, ConsoleAndNonApiRoutes) {
  auto index = get("GET", "/devices/d1");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "<!doctype html>");
  EXPECT_NE(header_of(index, "content-security-policy").find("frame-ancestors 'none'"),
            std::string::npos);
  EXPECT_EQ(get("GET", "/metrics").status, 200);
}

TEST_F(DispatcherTest, PublicAdmissionGuardsConsoleFilesAndTheOpenApiDocumentOnly) {
  router_.add("GET", "/api/openapi.json", [](Request&) { return Response::json(200, {}); });
  std::vector<std::string> asked;
  config_.public_admission = [&asked](const Request& r) -> std::int64_t {
    asked.push_back(r.path);
    return 7;  // refuse everything it is asked about
  };
  for (auto target : {"/", "/devices/d1", "/missing.js", "/api/openapi.json"}) {
    auto response = get("GET", target);
    EXPECT_EQ(response.status, 429) << target;
    EXPECT_EQ(nlohmann::json::parse(response.body).at("error"), "TooManyAttempts");
    EXPECT_EQ(header_of(response, "retry-after"), "7");
  }
  // Probes, API routes (they authenticate or limit themselves), non-API routes and wrong
  // methods never consult it.
  EXPECT_EQ(get("GET", "/healthz").status, 200);
  EXPECT_EQ(get("GET", "/api/things/1").status, 200);
  EXPECT_EQ(get("GET", "/metrics").status, 200);
  EXPECT_EQ(get("POST", "/devices").status, 405);
  EXPECT_EQ(asked,
            (std::vector<std::string>{"/", "/devices/d1", "/missing.js", "/api/openapi.json"}));
  config_.public_admission = [](const Request&) -> std::int64_t { return 0; };
  EXPECT_EQ(get("GET", "/").status, 200);
}

TEST_F(DispatcherTest, SecurityHeadersOnEveryResponse) {
  for (auto target : {"/healthz", "/api/none", "/", "/missing.js"}) {
    auto response = get("GET", target);
    EXPECT_EQ(header_of(response, "x-content-type-options"), "nosniff") << target;
    EXPECT_EQ(header_of(response, "x-frame-options"), "DENY") << target;
    EXPECT_EQ(header_of(response, "referrer-policy"), "no-referrer") << target;
    EXPECT_FALSE(header_of(response, "strict-transport-security").empty()) << target;
  }
  EXPECT_TRUE(header_of(get("GET", "/healthz"), "content-security-policy").empty());
}

TEST_F(DispatcherTest, DateHeaderOnEveryResponse) {
  EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  EXPECT_EQ(http_date(1796305500), "Thu, 03 Dec 2026 13:45:00 GMT");
  for (auto target : {"/healthz", "/readyz", "/api/none", "/"}) {
    const auto before = std::time(nullptr);
    const auto date = header_of(get("GET", target), "date");
    const auto after = std::time(nullptr);
    EXPECT_TRUE(date == http_date(before) || date == http_date(after)) << target << ": " << date;
  }
}

TEST_F(DispatcherTest, DisabledParts) {
  config_.console_enabled = false;
  EXPECT_EQ(get("GET", "/").status, 404);
  config_.api_enabled = false;
  EXPECT_EQ(get("GET", "/api/things/1").status, 404);
  EXPECT_EQ(get("GET", "/healthz").status, 200);
}

TEST_F(DispatcherTest, EveryResponseCarriesARequestId) {
  auto fresh = get("GET", "/healthz");
  const std::string id = header_of(fresh, "x-request-id");
  EXPECT_EQ(id.size(), 16u);
  EXPECT_TRUE(is_sane_request_id(id));
  EXPECT_NE(header_of(get("GET", "/healthz"), "x-request-id"), id);             // new per request
  EXPECT_FALSE(header_of(get("GET", "/api/nothing"), "x-request-id").empty());  // 404 too

  // A sane client id is kept; anything else is replaced.
  EXPECT_EQ(header_of(get("GET", "/healthz", {{"x-request-id", "abc-DEF_1.2"}}), "x-request-id"),
            "abc-DEF_1.2");
  for (std::string bad : {std::string(""), std::string("has space"), std::string("a\nb"),
                          std::string("semi;colon"), std::string(65, 'a')}) {
    auto response = get("GET", "/healthz", {{"x-request-id", bad}});
    const std::string replaced = header_of(response, "x-request-id");
    EXPECT_NE(replaced, bad);
    EXPECT_EQ(replaced.size(), 16u) << bad;
  }
  EXPECT_EQ(
      header_of(get("GET", "/healthz", {{"x-request-id", std::string(64, 'z')}}), "x-request-id"),
      std::string(64, 'z'));
}

TEST_F(DispatcherTest, FiveHundredsAreLoggedOnceWithIdRoutePatternAndCause) {
  logging::setup("stdout", "info");
  ::testing::internal::CaptureStdout();
  auto response = get("GET", "/api/stores/s1?x=1", {{"x-request-id", "req-500"}});
  auto thrown = get("POST", "/api/boom", {{"x-request-id", "req-boom"}});
  get("GET", "/healthz", {{"x-request-id", "req-ok"}});
  spdlog::info("after the request");
  const std::string out = ::testing::internal::GetCapturedStdout();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test"));

  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.body.find("disk I/O"), std::string::npos);  // the cause is only logged
  EXPECT_EQ(thrown.status, 500);
  // The handler's own line carries the request id.
  EXPECT_NE(out.find("req=req-500 handler line"), std::string::npos) << out;
  // One line per 5xx, with id, method, route pattern (not the path) and cause.
  EXPECT_NE(out.find("req=req-500 http: GET /api/stores/{id} answered 500: disk I/O error (10)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("req=req-boom http: POST /api/boom answered 500: the handler threw: handler "
                     "bug"),
            std::string::npos)
      << out;
  std::size_t lines_500 = 0;
  for (std::size_t at = out.find("answered 5"); at != std::string::npos;
       at = out.find("answered 5", at + 1)) {
    ++lines_500;
  }
  EXPECT_EQ(lines_500, 2u) << out;
  EXPECT_EQ(out.find("req-ok"), std::string::npos) << out;  // nothing logged for a 200
  // Outside a request no id is printed.
  EXPECT_NE(out.find("] after the request"), std::string::npos) << out;
}

TEST_F(DispatcherTest, JsonLogLinesParseAndCarryTheRequestId) {
  logging::setup("stdout", "info", "json");
  ::testing::internal::CaptureStdout();
  get("GET", "/api/stores/s1", {{"x-request-id", "req-json"}});
  spdlog::info("outside \"quoted\"\nsecond line");
  const std::string out = ::testing::internal::GetCapturedStdout();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test"));

  std::vector<nlohmann::json> lines;
  std::size_t start = 0;
  for (std::size_t nl = out.find('\n'); nl != std::string::npos; nl = out.find('\n', start)) {
    lines.push_back(nlohmann::json::parse(out.substr(start, nl - start)));  // throws if not JSON
    start = nl + 1;
  }
  EXPECT_EQ(start, out.size()) << "a line without its line feed: " << out;
  ASSERT_EQ(lines.size(), 3u) << out;  // the handler's line, the 500's line, the one outside
  EXPECT_EQ(lines[0].at("msg"), "handler line");
  EXPECT_EQ(lines[0].at("req"), "req-json");
  EXPECT_EQ(lines[1].at("level"), "error");
  EXPECT_EQ(lines[1].at("req"), "req-json");
  EXPECT_EQ(lines[2].at("msg"), "outside \"quoted\"\nsecond line");
  EXPECT_FALSE(lines[2].contains("req"));
  EXPECT_EQ(lines[2].at("logger"), "smartproductd");
}

// Labels and counts of smartproduct_http_request_duration_seconds, by "route method status".
std::map<std::string, std::uint64_t> request_counts(const Dispatcher& dispatcher) {
  std::vector<MetricSample> samples;
  dispatcher.request_metrics().report(samples);
  std::map<std::string, std::uint64_t> counts;
  for (const auto& s : samples) {
    EXPECT_EQ(s.name.rfind("smartproduct_http_request_duration_seconds_", 0), 0u) << s.name;
    EXPECT_EQ(s.type, "histogram");
    if (s.name.ends_with("_count")) counts[s.labels] = static_cast<std::uint64_t>(s.value);
  }
  return counts;
}

TEST_F(DispatcherTest, RequestDurationsByRoutePatternMethodAndStatusClass) {
  Dispatcher dispatcher(config_, router_, [this] { return reasons_; });
  auto send = [&](std::string method, std::string target) {
    Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    EXPECT_TRUE(parse_target(request).has_value());
    return dispatcher.handle(request).status;
  };
  EXPECT_TRUE(request_counts(dispatcher).empty());
  EXPECT_EQ(send("GET", "/api/things/a?q=1"), 200);
  EXPECT_EQ(send("GET", "/api/things/b"), 200);
  EXPECT_EQ(send("DELETE", "/api/things/b"), 405);
  EXPECT_EQ(send("POST", "/api/boom"), 500);
  EXPECT_EQ(send("GET", "/api/nothing/here"), 404);
  EXPECT_EQ(send("BREW", "/api/nothing"), 404);
  EXPECT_EQ(send("GET", "/devices/d1"), 200);
  EXPECT_EQ(send("GET", "/healthz"), 200);

  const std::map<std::string, std::uint64_t> expected = {
      {"route=\"/api/things/{id}\",method=\"GET\",status=\"2xx\"", 2},
      {"route=\"/api/things/{id}\",method=\"DELETE\",status=\"4xx\"", 1},
      {"route=\"/api/boom\",method=\"POST\",status=\"5xx\"", 1},
      {"route=\"unmatched\",method=\"GET\",status=\"4xx\"", 1},
      {"route=\"unmatched\",method=\"other\",status=\"4xx\"", 1},
      {"route=\"static\",method=\"GET\",status=\"2xx\"", 1},
      {"route=\"/healthz\",method=\"GET\",status=\"2xx\"", 1},
  };
  EXPECT_EQ(request_counts(dispatcher), expected);  // never a raw path such as /api/things/a
}

TEST(RequestIdScope, NestsAndRestores) {
  EXPECT_EQ(logging::request_id(), "");
  {
    logging::RequestIdScope outer("outer");
    EXPECT_EQ(logging::request_id(), "outer");
    {
      logging::RequestIdScope inner(std::string(100, 'x'));
      EXPECT_EQ(logging::request_id(), std::string(logging::kMaxRequestIdBytes, 'x'));
    }
    EXPECT_EQ(logging::request_id(), "outer");
  }
  EXPECT_EQ(logging::request_id(), "");
}

}  // namespace
}  // namespace sp::http
