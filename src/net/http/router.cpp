// Segment-tree router. Patterns are registered at startup and only read afterwards, so match()
// takes no lock and is safe to call from every worker thread.

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>

#include "smartproduct/http/types.hpp"
#include "smartproduct/http/websocket.hpp"

namespace sp::http {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segments;
  if (path.empty() || path.front() != '/') return segments;
  path.remove_prefix(1);
  if (path.empty()) return segments;  // "/" is the root: no segments
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      segments.push_back(path.substr(start));
      break;
    }
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

}  // namespace

struct Router::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
  std::unique_ptr<Node> param_child;
  std::string param_name;  // name of param_child's segment
  std::map<std::string, Handler, std::less<>>
      handlers;         // by method; ordered for a stable Allow header
  std::string pattern;  // as registered, for logs
};

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() { drop_websockets(*this); }

void Router::add(std::string method, std::string pattern, Handler handler) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + pattern);
  }
  Node* node = root_.get();
  for (std::string_view segment : split_path(pattern)) {
    if (segment.size() >= 2 && segment.front() == '{' && segment.back() == '}') {
      std::string name(segment.substr(1, segment.size() - 2));
      if (!node->param_child) {
        node->param_child = std::make_unique<Node>();
        node->param_name = name;
      } else if (node->param_name != name) {
        // One parameter slot per position keeps matching unambiguous.
        throw std::invalid_argument("conflicting parameter names {" + node->param_name + "} and {" +
                                    name + "} in " + pattern);
      }
      node = node->param_child.get();
    } else {
      if (segment.empty()) throw std::invalid_argument("empty segment in route " + pattern);
      auto it = node->literals.find(segment);
      if (it == node->literals.end()) {
        it = node->literals.emplace(std::string(segment), std::make_unique<Node>()).first;
      }
      node = it->second.get();
    }
  }
  if (!node->handlers.emplace(std::move(method), std::move(handler)).second) {
    throw std::invalid_argument("duplicate route " + pattern);
  }
  node->pattern = std::move(pattern);
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match result;
  const auto segments = split_path(path);
  if (path.empty() || path.front() != '/') return result;

  std::vector<std::pair<std::string, std::string>> bound;
  // Depth-first, literal children before the parameter child: the first node reached that has any
  // handler decides the route, so "/a/events" wins over "/a/{id}" even for a method only the
  // parameter route has (that is a 405, which is what a client of the literal route expects).
  const Node* found = nullptr;
  auto walk = [&](auto&& self, const Node* node, size_t depth) -> bool {
    if (depth == segments.size()) {
      if (node->handlers.empty()) return false;
      found = node;
      return true;
    }
    std::string_view segment = segments[depth];
    if (auto it = node->literals.find(segment); it != node->literals.end()) {
      if (self(self, it->second.get(), depth + 1)) return true;
    }
    if (node->param_child && !segment.empty()) {
      bound.emplace_back(node->param_name, std::string(segment));
      if (self(self, node->param_child.get(), depth + 1)) return true;
      bound.pop_back();
    }
    return false;
  };
  if (!walk(walk, root_.get(), 0)) return result;

  result.path_known = true;
  result.pattern = found->pattern;
  auto it = found->handlers.find(method);
  // HEAD is answered by the GET handler; the server drops the body on the wire.
  if (it == found->handlers.end() && method == "HEAD") it = found->handlers.find("GET");
  if (it != found->handlers.end()) {
    result.handler = &it->second;
    for (auto& [name, value] : bound) result.params[name] = std::move(value);
    return result;
  }
  // The Allow list is only needed for a 405: not built on the hot path.
  for (const auto& [name, _] : found->handlers) result.allowed.push_back(name);
  if (found->handlers.count("GET") && !found->handlers.count("HEAD")) {
    result.allowed.push_back("HEAD");
    std::sort(result.allowed.begin(), result.allowed.end());
  }
  return result;
}

}  // namespace sp::http

namespace sp::http {
namespace {

// WebSocket endpoints per router. Kept beside the router rather than in it so that the Router's
// header (included by every route file) stays as it is; ~Router drops its entries.
std::mutex websockets_mu;
std::map<const Router*,
         std::map<std::string, std::shared_ptr<const WebSocketEndpoint>, std::less<>>>
    websockets;

}  // namespace

void add_websocket(Router& router, std::string path, WebSocketEndpoint endpoint) {
  if (!endpoint.accept) throw std::logic_error("websocket endpoint without accept: " + path);
  std::lock_guard lock(websockets_mu);
  auto& paths = websockets[&router];
  if (!paths.emplace(path, std::make_shared<const WebSocketEndpoint>(std::move(endpoint))).second) {
    throw std::logic_error("duplicate websocket endpoint: " + path);
  }
}

std::shared_ptr<const WebSocketEndpoint> find_websocket(const Router& router,
                                                        std::string_view path) {
  std::lock_guard lock(websockets_mu);
  auto r = websockets.find(&router);
  if (r == websockets.end()) return nullptr;
  auto it = r->second.find(path);
  return it == r->second.end() ? nullptr : it->second;
}

void drop_websockets(const Router& router) {
  std::lock_guard lock(websockets_mu);
  websockets.erase(&router);
}

}  // namespace sp::http
