#pragma once
// Transport-neutral HTTP request/response types and the router interface. Module routes are written
// against these types only; the Beast adapter (src/net/http) converts to and from the wire.

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"
#include "smartproduct/http/errors.hpp"

namespace sp::http {

/// Header names are stored lower-cased.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target, e.g. "/api/devices?limit=10"
  std::string path;    // percent-decoded path without the query, e.g. "/api/devices"
  std::unordered_map<std::string, std::string> query;   // decoded query parameters
  std::unordered_map<std::string, std::string> params;  // path parameters from the route pattern
  Headers headers;
  std::string body;
  std::string remote_address;
  /// Set by the authentication step for protected routes; opaque to the router.
  std::shared_ptr<const void> principal;

  /// Case-insensitive header lookup; returns nullopt when absent.
  std::optional<std::string_view> header(std::string_view name) const;
  /// Query parameter or nullopt.
  std::optional<std::string_view> query_param(std::string_view name) const;
  /// Path parameter (always present for a matched pattern).
  const std::string& param(const std::string& name) const;
};

/// A response body produced a piece at a time (Response::stream). The server sends the headers
/// with Transfer-Encoding: chunked, then calls next() on the worker pool (it may block on SQLite)
/// and writes what it appended as one chunk; it asks for the next piece only once the previous one
/// is written, so memory stays bounded by one piece whatever the body's size.
class BodySource {
 public:
  enum class Piece { kMore, kLast };
  virtual ~BodySource() = default;
  /// Appends the next piece of the body to `out` (empty on entry); kLast ends the body (`out` may
  /// still hold data). An error cannot change the status any more (the headers went out): the
  /// server logs it and closes the connection without the terminating chunk, so the client sees a
  /// truncated transfer rather than a complete file. Must not throw (it counts as an error).
  virtual Result<Piece> next(std::string& out) = 0;
};

struct Response {
  int status = 200;
  Headers headers;  // Content-Type is set by the helpers below
  std::string body;
  /// When set, the body is this file's content instead of `body`, streamed by the server in
  /// pieces (large downloads such as backup archives never sit in memory whole).
  std::filesystem::path file;
  /// When set, the body comes from this source, chunked (see BodySource); `body` and `file` are
  /// ignored. A HEAD request gets the headers only and the source is never called. The request
  /// metrics time such a request up to its headers.
  std::shared_ptr<BodySource> stream;
  /// Why a 5xx happened (an Error's detail): logged once by the dispatcher, never sent.
  std::string cause;

  static Response json(int status, const nlohmann::json& body);
  /// The error body of DESIGN.md §7: {"code": <status>, "error": <name>, "message": <text>}.
  /// A name in the error catalogue (smartproduct/http/errors.hpp) always goes out with the
  /// catalogue's status, whatever kind the error carries; a store failure never goes out as such:
  /// it becomes StoreUnavailable or InternalError (errors::from_store).
  static Response error(const Error& error);
  /// The catalogue entry with `message` (its default message when empty).
  static Response error(const errors::Code& code, std::string message = {});
  /// Prefer the overload above: names given here are checked against the catalogue by
  /// tests/unit/net/http/check_error_catalogue.py only.
  static Response error(ErrorKind kind, std::string name, std::string message);
  void set_header(std::string name, std::string value);
};

/// Parses the request body as a JSON object. Fails with 400 (not JSON / not an object) or 415
/// mapped to 400 when the content type is not JSON.
Result<nlohmann::json> parse_json_object(const Request& request);

/// A route handler. Handlers run on the worker pool, never on an I/O thread, so they may block on
/// SQLite or a password hash. They must not throw; an escaping exception becomes a 500.
using Handler = std::function<Response(Request&)>;

/// Method + path-pattern router. Patterns are literal segments and `{name}` parameters, e.g.
/// "/api/devices/{deviceId}/events/{eventId}". Literal segments win over parameters, so
/// "/api/devices/events" is matched before "/api/devices/{deviceId}".
class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  void add(std::string method, std::string pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null when not found / method not allowed
    std::unordered_map<std::string, std::string> params;
    bool path_known = false;           // a pattern matched the path (405 if no handler)
    std::vector<std::string> allowed;  // methods allowed on this path, for 405 Allow: (filled
                                       // only when there is no handler)
    std::string_view pattern;          // the matched route pattern (for logs), else empty
  };
  Match match(std::string_view method, std::string_view path) const;

 private:
  struct Node;
  std::unique_ptr<Node> root_;
};

}  // namespace sp::http
