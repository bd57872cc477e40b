#include "smartproduct/catalog/routes.hpp"

#include <charconv>

namespace sp::catalog {
namespace {

using http::Request;
using http::Response;

Result<int> page_limit(const Request& req) {
  return http::page_limit(req, kDefaultPageSize, kMaxPageSize);
}

Response list(CatalogService& service, const Request& req) {
  auto limit = page_limit(req);
  if (!limit) return Response::error(limit.error());
  std::optional<store::CatalogKey> after;
  // The seed's console sends the literal "null" for "no cursor".
  if (auto c = req.query_param("lastevalkey"); c && !c->empty() && *c != "null") {
    after = decode_cursor(*c);
    if (!after) {
      return Response::error(ErrorKind::kBadRequest, "InvalidCursor",
                             "lastevalkey is not a valid cursor.");
    }
  }
  std::optional<std::string> model;
  if (auto m = req.query_param("modelNumber"); m && !m->empty()) model = std::string(*m);
  auto page = service.list(*limit, model, after);
  if (!page) return Response::error(page.error());
  nlohmann::json items = nlohmann::json::array();
  for (const auto& e : page->items) items.push_back(to_json(e));
  nlohmann::json out{{"Items", std::move(items)}, {"Count", page->items.size()}};
  if (page->next) out["LastEvaluatedKey"] = encode_cursor(*page->next);
  return Response::json(200, out);
}

Result<std::string> model_query(const Request& req) {
  auto m = req.query_param("modelNumber");
  if (!m || m->empty()) {
    return fail(ErrorKind::kUnprocessable, "InvalidCatalogEntry",
                "modelNumber is required (?modelNumber=).");
  }
  return std::string(*m);
}

}  // namespace

void add_catalog_routes(http::Router& router, CatalogService& service,
                        const identity::Authenticator& auth) {
  const std::string base = "/api/admin/catalog";
  const std::string item = base + "/{deviceId}/{modelNumber}";
  router.add("GET", base, auth.protect_admin([&service](Request& req, const identity::Principal&) {
    return list(service, req);
  }));
  router.add("POST", base, auth.protect_admin([&service](Request& req, const identity::Principal&) {
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    auto entry = entry_from_json(*body);
    if (!entry) return Response::error(entry.error());
    auto row = service.create(*entry);
    if (!row) return Response::error(row.error());
    return Response::json(201, to_json(*row));
  }));
  const auto get_one = [&service](const std::string& device_id, const std::string& model) {
    auto row = service.find(device_id, model);
    if (!row) return Response::error(row.error());
    return Response::json(200, to_json(*row));
  };
  const auto delete_one = [&service](const std::string& device_id, const std::string& model) {
    auto r = service.remove(device_id, model);
    if (!r) return Response::error(r.error());
    Response resp;
    resp.status = 204;
    return resp;
  };
  router.add("GET", item, auth.protect_admin([get_one](Request& req, const identity::Principal&) {
    return get_one(req.param("deviceId"), req.param("modelNumber"));
  }));
  router.add("DELETE", item,
             auth.protect_admin([delete_one](Request& req, const identity::Principal&) {
               return delete_one(req.param("deviceId"), req.param("modelNumber"));
             }));
  // The seed's model charset allows '/', which the HTTP layer refuses encoded in a path (%2F):
  // these forms take the model number from the query instead.
  const std::string by_query = base + "/{deviceId}";
  router.add("GET", by_query,
             auth.protect_admin([get_one](Request& req, const identity::Principal&) {
               auto model = model_query(req);
               if (!model) return Response::error(model.error());
               return get_one(req.param("deviceId"), *model);
             }));
  router.add("DELETE", by_query,
             auth.protect_admin([delete_one](Request& req, const identity::Principal&) {
               auto model = model_query(req);
               if (!model) return Response::error(model.error());
               return delete_one(req.param("deviceId"), *model);
             }));
}

}  // namespace sp::catalog
