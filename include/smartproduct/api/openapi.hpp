#pragma once
// The OpenAPI 3.0 description of the REST API (src/modules/api/openapi.json, embedded at build
// time), served unauthenticated at GET /api/openapi.json. Modules adding routes extend that file;
// tests/integration/test_accounts.py checks live responses against it.

#include <string_view>

#include "smartproduct/http/types.hpp"

namespace sp::api {

/// The document as embedded (valid JSON; checked by a unit test).
std::string_view openapi_document();

/// Registers GET /api/openapi.json.
void add_openapi_route(http::Router& router);

}  // namespace sp::api
