// In-process HTTPS server tests: a real server on an ephemeral loopback port, a certificate made
// with the openssl CLI in a temp dir, and a raw OpenSSL client.

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>

#include "net/http/server.hpp"
#include "temp_dir.hpp"
#include "tls_test_client.hpp"

namespace sp::http {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::TempDir;
using testing::TlsClient;
using testing::TlsOptions;

void make_cert(const fs::path& dir, const std::string& cn, const std::string& cert,
               const std::string& key) {
  std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-nodes -days 1 -subj /CN=" +
      cn + " -keyout '" + (dir / key).string() + "' -out '" + (dir / cert).string() +
      "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

nlohmann::json json_of(const testing::ClientResponse& response) {
  return nlohmann::json::parse(response.body);
}

// A streamed body of `pieces` pieces "<i>:" followed by `bytes` letters; piece `fail_at` is an
// error instead. Counts the calls to next().
class PieceSource final : public BodySource {
 public:
  PieceSource(int pieces, int fail_at, std::size_t bytes, std::atomic<int>& calls)
      : pieces_(pieces), fail_at_(fail_at), bytes_(bytes), calls_(calls) {}

  static std::string piece(int i, std::size_t bytes) {
    return std::to_string(i) + ":" + std::string(bytes, static_cast<char>('a' + i % 26));
  }

  Result<Piece> next(std::string& out) override {
    calls_.fetch_add(1);
    const int i = next_++;
    if (i == fail_at_) return fail(ErrorKind::kInternal, "SourceFailed", "the store went away");
    out = piece(i, bytes_);
    return i + 1 >= pieces_ ? Piece::kLast : Piece::kMore;
  }

 private:
  int pieces_, fail_at_;
  int next_ = 0;  // the server never calls next() concurrently
  std::size_t bytes_;
  std::atomic<int>& calls_;
};

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    make_cert(dir_->path(), "localhost", "cert.pem", "key.pem");
    make_cert(dir_->path(), "second", "cert2.pem", "key2.pem");
    dir_->write("web/index.html", "<!doctype html><title>console</title>");
    dir_->write("web/app.js", "console.log('hi')");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    router_.add("GET", "/api/hello", [](Request& r) {
      return Response::json(200, {{"hello", r.query_param("name").value_or("world")}});
    });
    router_.add("POST", "/api/echo", [](Request& r) {
      return Response::json(200, {{"size", r.body.size()}, {"remote", r.remote_address}});
    });
    router_.add("GET", "/api/stream", [this](Request& r) {
      auto number = [&](std::string_view name, int fallback) {
        auto v = r.query_param(name);
        return v ? std::stoi(std::string(*v)) : fallback;
      };
      Response response;
      response.set_header("content-type", "text/plain");
      response.stream = std::make_shared<PieceSource>(
          number("n", 3), number("fail", -1), static_cast<std::size_t>(number("bytes", 100)),
          stream_calls_);
      return response;
    });
    router_.add("GET", "/api/boom",
                [](Request&) -> Response { throw std::runtime_error("bug in a handler"); });
    router_.add("GET", "/api/slow", [this](Request&) {
      slow_started_.set_value();
      std::this_thread::sleep_for(400ms);
      return Response::json(200, {{"slow", true}});
    });
  }

  void TearDown() override {
    if (server_) server_->stop(0ms);
  }

  ServerConfig config() const {
    ServerConfig c;
    c.listen = "127.0.0.1";
    c.port = 0;
    c.cert = dir_->path() / "cert.pem";
    c.key = dir_->path() / "key.pem";
    c.web_root = dir_->path() / "web";
    c.read_timeout = 5s;
    c.idle_timeout = 5s;
    c.worker_threads = 2;
    c.io_threads = 1;
    return c;
  }

  void start(ServerConfig c) {
    server_ = std::make_unique<HttpServer>(c, router_, [this] {
      std::lock_guard lock(mu_);
      return reasons_;
    });
    auto started = server_->start();
    ASSERT_TRUE(started.has_value()) << started.error().message;
    ASSERT_NE(server_->port(), 0);
  }

  std::unique_ptr<TlsClient> connect(TlsOptions options = {}) {
    return TlsClient::connect(server_->port(), options);
  }

  static TempDir* dir_;
  Router router_;
  std::mutex mu_;
  std::vector<std::string> reasons_;
  std::promise<void> slow_started_;
  std::atomic<int> stream_calls_{0};
  std::unique_ptr<HttpServer> server_;
};

TempDir* ServerTest::dir_ = nullptr;

TEST_F(ServerTest, HealthzWithSecurityHeaders) {
  start(config());
  auto client = connect();
  ASSERT_TRUE(client);
  auto response = client->request("GET", "/healthz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(json_of(*response), (nlohmann::json{{"status", "ok"}}));
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->header("x-content-type-options"), "nosniff");
  EXPECT_EQ(response->header("x-frame-options"), "DENY");
  EXPECT_EQ(response->header("referrer-policy"), "no-referrer");
  EXPECT_FALSE(response->header("strict-transport-security").empty());
}

TEST_F(ServerTest, ReadyzReflectsProbe) {
  start(config());
  auto client = connect();
  ASSERT_TRUE(client);
  auto ready = client->request("GET", "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(json_of(*ready), (nlohmann::json{{"status", "ready"}}));
  {
    std::lock_guard lock(mu_);
    reasons_ = {"database not open"};
  }
  auto not_ready = client->request("GET", "/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  auto body = json_of(*not_ready);
  EXPECT_EQ(body.at("code"), 503);
  EXPECT_EQ(body.at("error"), "NotReady");
  EXPECT_EQ(body.at("reasons"), nlohmann::json::array({"database not open"}));
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowedAreJson) {
  start(config());
  auto client = connect();
  ASSERT_TRUE(client);
  auto missing = client->request("GET", "/api/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(
      json_of(*missing),
      (nlohmann::json{{"code", 404}, {"error", "NotFound"}, {"message", "no such resource"}}));
  auto wrong = client->request("DELETE", "/api/hello");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(json_of(*wrong).at("error"), "MethodNotAllowed");
  EXPECT_EQ(wrong->header("allow"), "GET, HEAD");
}

TEST_F(ServerTest, KeepAliveHeadAndQuery) {
  start(config());
  auto client = connect();
  ASSERT_TRUE(client);
  auto first = client->request("GET", "/api/hello?name=a%20b&token=secret");
  ASSERT_TRUE(first);
  EXPECT_EQ(json_of(*first).at("hello"), "a b");
  auto head = client->request("HEAD", "/api/hello");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-length"),
            std::to_string(std::string(R"({"hello":"world"})").size()));
  auto echo =
      client->request("POST", "/api/echo", "Content-Type: application/json\r\n", "{\"x\":1}");
  ASSERT_TRUE(echo);  // third request, same connection
  EXPECT_EQ(json_of(*echo).at("size"), 7);
  EXPECT_EQ(json_of(*echo).at("remote"), "127.0.0.1");
}

TEST_F(ServerTest, StreamedBodyArrivesWholeInOrderAndKeepsTheConnection) {
  start(config());
  auto client = connect();
  ASSERT_TRUE(client);
  auto streamed = client->request("GET", "/api/stream?n=50&bytes=1000");
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->status, 200);
  EXPECT_EQ(streamed->header("transfer-encoding"), "chunked");
  EXPECT_EQ(streamed->header("content-length"), "");
  EXPECT_FALSE(streamed->header("x-request-id").empty());
  EXPECT_TRUE(streamed->complete);
  ASSERT_EQ(streamed->chunks.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(streamed->chunks[i], PieceSource::piece(i, 1000)) << i;
  EXPECT_EQ(stream_calls_.load(), 50);

  // Keep-alive: the same connection answers the next request, and HEAD gets the headers only
  // without the source being asked for anything.
  auto hello = client->request("GET", "/api/hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ(json_of(*hello).at("hello"), "world");
  auto head = client->request("HEAD", "/api/stream?n=5");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("transfer-encoding"), "chunked");
  EXPECT_EQ(head->body, "");
  auto again = client->request("GET", "/api/stream?n=2&bytes=10");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, PieceSource::piece(0, 10) + PieceSource::piece(1, 10));
  EXPECT_EQ(stream_calls_.load(), 52);  // HEAD asked for nothing

  // The dispatcher timed the streamed requests under their route.
  std::vector<MetricSample> samples;
  server_->report_metrics(samples);
  auto counted = std::count_if(samples.begin(), samples.end(), [](const MetricSample& m) {
    return m.name == "smartproduct_http_request_duration_seconds_count" &&
           m.labels.find("route=\"/api/stream\"") != std::string::npos;
  });
  EXPECT_GT(counted, 0);
}

TEST_F(ServerTest, StreamedBodyErrorTruncatesTheTransfer) {
  start(config());
  auto client = connect();
  ASSERT_TRUE(client);
  auto streamed = client->request("GET", "/api/stream?n=10&fail=4&bytes=100");
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->status, 200);  // the headers went out before the error
  EXPECT_FALSE(streamed->complete);  // no terminating chunk
  ASSERT_EQ(streamed->chunks.size(), 4u);
  EXPECT_EQ(streamed->chunks[3], PieceSource::piece(3, 100));
  EXPECT_TRUE(client->wait_closed(2s));
  // The server goes on.
  auto other = connect();
  ASSERT_TRUE(other);
  auto hello = other->request("GET", "/api/hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
}

TEST_F(ServerTest, StreamedBodyWaitsForASlowReader) {
  start(config());
  auto client = connect();
  ASSERT_TRUE(client);
  // 64 pieces of 1 MiB; the client reads nothing until the source has stopped being called.
  ASSERT_TRUE(
      client->send("GET /api/stream?n=64&bytes=1048576 HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  int seen = -1;
  for (int polls = 0; polls < 100 && stream_calls_.load() != seen; ++polls) {
    seen = stream_calls_.load();
    std::this_thread::sleep_for(100ms);  // settles: no event marks "the socket buffers are full"
  }
  // One piece in flight and what the socket buffers hold (a few MiB on loopback), not all 64.
  EXPECT_LT(stream_calls_.load(), 20);
  auto streamed = client->read_response();
  ASSERT_TRUE(streamed);
  EXPECT_TRUE(streamed->complete);
  EXPECT_EQ(streamed->chunks.size(), 64u);
  EXPECT_EQ(stream_calls_.load(), 64);
}

TEST_F(ServerTest, DeclaredBodyTooLargeIs413WithoutReadingIt) {
  auto c = config();
  c.max_body_bytes = 1024;
  start(c);
  auto client = connect();
  ASSERT_TRUE(client);
  // Only the head is sent: the answer must come without waiting for 10 MB.
  ASSERT_TRUE(
      client->send("POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"));
  auto response = client->read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(json_of(*response).at("error"), "PayloadTooLarge");
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client->wait_closed(3s));
}

TEST_F(ServerTest, ChunkedBodyTooLargeIs413) {
  auto c = config();
  c.max_body_bytes = 1024;
  start(c);
  auto client = connect();
  ASSERT_TRUE(client);
  std::string chunk(2000, 'a');
  ASSERT_TRUE(
      client->send("POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "7d0\r\n" +
                   chunk + "\r\n0\r\n\r\n"));
  auto response = client->read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
}

TEST_F(ServerTest, HugeHeaderIs431) {
  auto c = config();
  c.max_header_bytes = 4096;
  start(c);
  auto client = connect();
  ASSERT_TRUE(client);
  auto response = client->request("GET", "/healthz", "X-Big: " + std::string(8000, 'a') + "\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(json_of(*response).at("code"), 431);
  EXPECT_EQ(json_of(*response).at("error"), "RequestHeaderFieldsTooLarge");
}

TEST_F(ServerTest, MalformedRequestIs400AndClosed) {
  start(config());
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send("THIS IS NOT HTTP\r\n\r\n"));
  auto response = client->read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(json_of(*response).at("error"), "BadRequest");
  EXPECT_TRUE(client->wait_closed(3s));
}

TEST_F(ServerTest, Tls11IsRefusedTls12Accepted) {
  start(config());
  TlsOptions old;
  old.legacy = true;
  old.min_version = TLS1_1_VERSION;
  old.max_version = TLS1_1_VERSION;
  int reason = 0;
  EXPECT_FALSE(TlsClient::connect(server_->port(), old, &reason));
  // The server said no (protocol_version alert); the client was willing.
  EXPECT_EQ(reason, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);

  TlsOptions tls12;
  tls12.max_version = TLS1_2_VERSION;
  auto client = TlsClient::connect(server_->port(), tls12);
  ASSERT_TRUE(client);
  auto response = client->request("GET", "/healthz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(ServerTest, SlowlorisIsCutAndDoesNotBlockOthers) {
  auto c = config();
  c.read_timeout = 1s;
  c.idle_timeout = 30s;  // only the read timeout may end the slow client
  start(c);
  auto slow = connect();
  ASSERT_TRUE(slow);
  ASSERT_TRUE(slow->send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  auto begin = std::chrono::steady_clock::now();
  bool served_other = false;
  while (std::chrono::steady_clock::now() - begin < 1500ms) {
    if (!slow->send("X-Drip: 1\r\n")) break;
    if (!served_other) {
      auto other = connect();
      ASSERT_TRUE(other);
      auto response = other->request("GET", "/healthz");
      ASSERT_TRUE(response);
      EXPECT_EQ(response->status, 200);
      served_other = true;
    }
    std::this_thread::sleep_for(150ms);
  }
  EXPECT_TRUE(served_other);
  EXPECT_TRUE(slow->wait_closed(3s));
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  auto c = config();
  c.idle_timeout = 1s;
  start(c);
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->request("GET", "/healthz"));
  EXPECT_TRUE(client->wait_closed(3s));
}

TEST_F(ServerTest, HandlerExceptionIs500AndServerKeepsWorking) {
  start(config());
  auto client = connect();
  ASSERT_TRUE(client);
  auto boom = client->request("GET", "/api/boom");
  ASSERT_TRUE(boom);
  EXPECT_EQ(boom->status, 500);
  EXPECT_EQ(json_of(*boom).at("error"), "InternalError");
  auto after = client->request("GET", "/api/hello");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST_F(ServerTest, StaticConsoleOverTls) {
  start(config());
  auto client = connect();
  ASSERT_TRUE(client);
  auto index = client->request("GET", "/devices/123");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->body, "<!doctype html><title>console</title>");
  EXPECT_EQ(index->header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(index->header("cache-control"), "no-cache");
  EXPECT_NE(index->header("content-security-policy").find("default-src 'self'"), std::string::npos);

  auto js = client->request("HEAD", "/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->header("content-length"), "17");
  EXPECT_TRUE(js->body.empty());
  auto etag = js->header("etag");
  ASSERT_FALSE(etag.empty());
  auto cached = client->request("GET", "/app.js", "If-None-Match: " + etag + "\r\n");
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->status, 304);
  EXPECT_TRUE(cached->body.empty());

  auto traversal = client->request("GET", "/%2e%2e/%2e%2e/etc/passwd");
  ASSERT_TRUE(traversal);
  EXPECT_EQ(traversal->status, 404);
  EXPECT_EQ(json_of(*traversal).at("error"), "NotFound");
}

TEST_F(ServerTest, GracefulStopFinishesInFlightRequest) {
  start(config());
  auto idle = connect();
  ASSERT_TRUE(idle);
  ASSERT_TRUE(idle->request("GET", "/healthz"));  // now idle between keep-alive requests

  auto busy = connect();
  ASSERT_TRUE(busy);
  auto started = slow_started_.get_future();
  auto pending = std::async(std::launch::async, [&] { return busy->request("GET", "/api/slow"); });
  ASSERT_EQ(started.wait_for(5s), std::future_status::ready);
  server_->stop(5s);

  auto response = pending.get();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(json_of(*response).at("slow"), true);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(idle->wait_closed(1s));
  EXPECT_FALSE(connect());  // no longer listening
}

TEST_F(ServerTest, ConnectionLimit) {
  auto c = config();
  c.max_connections = 1;
  start(c);
  auto first = connect();
  ASSERT_TRUE(first);
  TlsOptions quick;
  quick.timeout = 2000ms;
  EXPECT_FALSE(connect(quick));
  first.reset();
  std::unique_ptr<TlsClient> again;
  for (int i = 0; i < 40 && !again; ++i) {
    std::this_thread::sleep_for(50ms);
    again = connect(quick);
  }
  ASSERT_TRUE(again);
  auto response = again->request("GET", "/healthz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(ServerTest, StartFailuresAreErrors) {
  start(config());
  auto c = config();
  c.port = server_->port();
  HttpServer clash(c, router_, {});
  auto in_use = clash.start();
  ASSERT_FALSE(in_use.has_value());
  EXPECT_EQ(in_use.error().name, "ListenError");
  EXPECT_NE(in_use.error().message.find("in use"), std::string::npos) << in_use.error().message;

  auto missing = config();
  missing.cert = dir_->path() / "missing.pem";
  auto no_cert = HttpServer(missing, router_, {}).start();
  ASSERT_FALSE(no_cert.has_value());
  EXPECT_EQ(no_cert.error().name, "TlsConfigError");

  auto mismatched = config();
  mismatched.key = dir_->path() / "key2.pem";
  auto wrong_key = HttpServer(mismatched, router_, {}).start();
  ASSERT_FALSE(wrong_key.has_value());
  EXPECT_EQ(wrong_key.error().name, "TlsConfigError");

  auto bad_address = config();
  bad_address.listen = "not-an-address";
  EXPECT_EQ(HttpServer(bad_address, router_, {}).start().error().name, "ListenError");
}

TEST_F(ServerTest, ReloadCertificates) {
  TempDir local;
  fs::copy_file(dir_->path() / "cert.pem", local.path() / "cert.pem");
  fs::copy_file(dir_->path() / "key.pem", local.path() / "key.pem");
  auto c = config();
  c.cert = local.path() / "cert.pem";
  c.key = local.path() / "key.pem";
  start(c);
  auto before = connect();
  ASSERT_TRUE(before);
  EXPECT_EQ(before->peer_common_name(), "localhost");

  fs::copy_file(dir_->path() / "cert2.pem", c.cert, fs::copy_options::overwrite_existing);
  fs::copy_file(dir_->path() / "key2.pem", c.key, fs::copy_options::overwrite_existing);
  ASSERT_TRUE(server_->reload_certificates().has_value());
  auto after = connect();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->peer_common_name(), "second");
  ASSERT_TRUE(before->request("GET", "/healthz"));  // old connections keep working

  local.write("cert.pem", "not a certificate");
  auto failed = server_->reload_certificates();
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().name, "TlsConfigError");
  auto still = connect();
  ASSERT_TRUE(still);
  EXPECT_EQ(still->peer_common_name(), "second");
}

}  // namespace
}  // namespace sp::http
