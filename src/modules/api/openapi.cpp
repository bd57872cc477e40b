#include "smartproduct/api/openapi.hpp"

namespace sp::api {
namespace detail {
extern const std::string_view kOpenApiJson;
}

std::string_view openapi_document() { return detail::kOpenApiJson; }

void add_openapi_route(http::Router& router) {
  router.add("GET", "/api/openapi.json", [](http::Request&) {
    http::Response r;
    r.status = 200;
    r.body = std::string(openapi_document());
    r.set_header("content-type", "application/json");
    r.set_header("cache-control", "public, max-age=300");
    return r;
  });
}

}  // namespace sp::api
