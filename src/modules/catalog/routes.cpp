#include "smartproduct/catalog/routes.hpp"

#include "smartproduct/http/paging.hpp"

namespace sp::catalog {
namespace {

using http::Request;
using http::Response;

// The catalog resumes after a (serial, model) key: {"d": serial, "m": model}.
std::optional<store::CatalogKey> catalog_key(const nlohmann::json& key) {
  const auto d = key.find("d");
  const auto m = key.find("m");
  if (d == key.end() || !d->is_string() || m == key.end() || !m->is_string()) return std::nullopt;
  return store::CatalogKey{d->get<std::string>(), m->get<std::string>()};
}

nlohmann::json catalog_key_json(const store::CatalogKey& key) {
  return {{"d", key.device_id}, {"m", key.model_number}};
}

Response list(CatalogService& service, const Request& req) {
  auto page = http::parse_page<store::CatalogKey>(req, catalog_key);
  if (!page) return Response::error(page.error());
  std::optional<std::string> model;
  if (auto m = req.query_param("modelNumber"); m && !m->empty()) model = std::string(*m);
  auto rows = service.list(page->limit, model, page->after);
  if (!rows) return Response::error(rows.error());
  nlohmann::json items = nlohmann::json::array();
  for (const auto& e : rows->items) items.push_back(to_json(e));
  std::optional<nlohmann::json> next;
  if (rows->next) next = catalog_key_json(*rows->next);
  return Response::json(200, http::page_json(std::move(items), next));
}

Result<std::string> model_query(const Request& req) {
  auto m = req.query_param("modelNumber");
  if (!m || m->empty()) {
    return fail(errors::kInvalidCatalogEntry, "modelNumber is required (?modelNumber=).");
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
