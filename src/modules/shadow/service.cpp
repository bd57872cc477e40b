#include "smartproduct/shadow/service.hpp"

#include <functional>
#include <utility>

#include "modules/shadow/document.hpp"

namespace sp::shadow {
namespace {

using nlohmann::json;

// AWS keeps a deleted shadow's version for 48 hours: a shadow created again within that time
// continues from it, later it starts over.
constexpr std::int64_t kVersionKeptAfterDelete_s = 48 * 3600;
// Concurrent writers of one device each lose at most once per winner; this bounds a pathological
// storm of writers rather than any normal load.
constexpr int kMaxAttempts = 16;

json object_member(const json& holder, const char* key) {
  auto it = holder.find(key);
  return it != holder.end() && it->is_object() ? *it : json::object();
}

ShadowDocument to_document(const store::ShadowRecord& record) {
  ShadowDocument doc;
  doc.desired = object_member(record.state, "desired");
  doc.reported = object_member(record.state, "reported");
  doc.metadata_desired = object_member(record.metadata, "desired");
  doc.metadata_reported = object_member(record.metadata, "reported");
  doc.version = record.version;
  doc.timestamp_s = record.updated_at_s;
  return doc;
}

store::ShadowRecord to_record(std::string_view device_id, const ShadowDocument& doc) {
  store::ShadowRecord record;
  record.device_id = std::string(device_id);
  record.state = {{"desired", doc.desired}, {"reported", doc.reported}};
  record.metadata = {{"desired", doc.metadata_desired}, {"reported", doc.metadata_reported}};
  record.version = doc.version;
  record.updated_at_s = doc.timestamp_s;
  record.deleted = false;
  return record;
}

tl::unexpected<Rejection> storage_failure(const Error& error,
                                          const std::optional<std::string>& client_token) {
  return tl::unexpected<Rejection>(Rejection{
      500, msg::kInternal, client_token,
      error.name + ": " + error.message + (error.detail.empty() ? "" : " " + error.detail)});
}

tl::unexpected<Rejection> not_found(std::string_view device_id,
                                    const std::optional<std::string>& client_token) {
  return tl::unexpected<Rejection>(Rejection{
      404, "No shadow exists with name: '" + std::string(device_id) + "'", client_token, {}});
}

tl::unexpected<Rejection> conflict(const std::optional<std::string>& client_token) {
  return tl::unexpected<Rejection>(Rejection{409, msg::kVersionConflict, client_token, {}});
}

}  // namespace

Reply<PlannedUpdate> plan_update(std::string_view device_id,
                                 const std::optional<store::ShadowRecord>& stored,
                                 const UpdateRequest& request, std::int64_t now_s,
                                 const Limits& limits) {
  ShadowDocument base;
  std::optional<ShadowDocument> previous;
  std::optional<store::ShadowStamp> stamp;
  if (stored) {
    stamp = store::ShadowStamp{stored->version, stored->deleted};
    if (!stored->deleted) {
      base = to_document(*stored);
      previous = base;
    } else if (now_s - stored->updated_at_s <= kVersionKeptAfterDelete_s) {
      base.version = stored->version;
    }
  }
  const auto& token = request.client_token;
  if (request.version && *request.version != base.version) return conflict(token);
  auto next = apply_update(base, request, now_s, limits);
  if (!next) return tl::unexpected(std::move(next.error()));
  PlannedUpdate plan;
  plan.record = to_record(device_id, *next);
  plan.expected = stamp;
  plan.outcome.accepted = accepted_json(request, *next).dump();
  if (auto delta = delta_json(*next, token)) plan.outcome.delta = delta->dump();
  plan.outcome.documents = documents_json(previous, *next, token).dump();
  plan.outcome.previous = std::move(previous);
  plan.outcome.current = std::move(*next);
  return plan;
}

Reply<PlannedUpdate> plan_desired(std::string_view device_id,
                                  const std::optional<store::ShadowRecord>& stored,
                                  const json& desired, std::int64_t now_s, const Limits& limits) {
  // Through the same parser as a device's request, so the same checks and limits apply.
  auto request = parse_update_request(json{{"state", {{"desired", desired}}}}.dump(), limits);
  if (!request) return tl::unexpected(std::move(request.error()));
  return plan_update(device_id, stored, *request, now_s, limits);
}

ShadowService::ShadowService(store::ShadowRepository& repository, const Clock& clock, Limits limits)
    : repository_(repository), clock_(clock), limits_(limits) {}

std::mutex& ShadowService::write_lock(std::string_view device_id) {
  return write_locks_[std::hash<std::string_view>{}(device_id) % write_locks_.size()];
}

std::int64_t ShadowService::now_s() const { return clock_.now_ms() / 1000; }

Reply<UpdateOutcome> ShadowService::update(std::string_view device_id, std::string_view payload) {
  auto request = parse_update_request(payload, limits_);
  if (!request) return tl::unexpected(std::move(request.error()));
  return apply(device_id, *request);
}

Reply<UpdateOutcome> ShadowService::update_as_owner(std::string_view device_id,
                                                    std::string_view payload) {
  auto request = parse_update_request(payload, limits_);
  if (!request) return tl::unexpected(std::move(request.error()));
  // Only the device reports its state; an owner asks for one.
  if (request->reported) {
    return tl::unexpected(Rejection{400, msg::kInvalidNode, request->client_token, "reported"});
  }
  return apply(device_id, *request);
}

Reply<UpdateOutcome> ShadowService::update_desired(std::string_view device_id, const json& desired,
                                                   std::optional<std::int64_t> expected_version) {
  // Through the same parser as a device's request, so the same checks and limits apply.
  json request = {{"state", {{"desired", desired}}}};
  if (expected_version) request["version"] = *expected_version;
  return update(device_id, request.dump());
}

Reply<UpdateOutcome> ShadowService::apply(std::string_view device_id,
                                          const UpdateRequest& request) {
  const auto& token = request.client_token;
  // Without it, a writer that just won reloads before the losers' failed writes come back, and
  // a busy device starved them (measured: 5 of 100 updates from 4 threads gave up).
  std::lock_guard guard(write_lock(device_id));
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto loaded = repository_.load(device_id);
    if (!loaded) return storage_failure(loaded.error(), token);
    auto plan = plan_update(device_id, *loaded, request, now_s(), limits_);
    if (!plan) return tl::unexpected(std::move(plan.error()));
    auto saved = repository_.save(plan->record, plan->expected);
    if (!saved) return storage_failure(saved.error(), token);
    if (*saved) return std::move(plan->outcome);
    // Another writer committed in between. A request for a specific version now conflicts; any
    // other request is applied again on top of the winner's document.
    if (request.version) return conflict(token);
  }
  return tl::unexpected(
      Rejection{500, msg::kInternal, token, "gave up after repeated concurrent writes"});
}

Reply<std::string> ShadowService::get(std::string_view device_id, std::string_view payload) {
  auto token = parse_client_token(payload, limits_);
  if (!token) return tl::unexpected(std::move(token.error()));
  auto doc = find(device_id);
  if (!doc) {
    doc.error().client_token = *token;
    return tl::unexpected(std::move(doc.error()));
  }
  if (!*doc) return not_found(device_id, *token);
  return document_json(**doc, now_s(), *token).dump();
}

Reply<std::optional<ShadowDocument>> ShadowService::find(std::string_view device_id) {
  auto loaded = repository_.load(device_id);
  if (!loaded) return storage_failure(loaded.error(), std::nullopt);
  if (!*loaded || (*loaded)->deleted) return std::optional<ShadowDocument>{};
  return std::optional<ShadowDocument>(to_document(**loaded));
}

Reply<DeleteOutcome> ShadowService::remove(std::string_view device_id, std::string_view payload) {
  auto token = parse_client_token(payload, limits_);
  if (!token) return tl::unexpected(std::move(token.error()));
  std::lock_guard guard(write_lock(device_id));
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto loaded = repository_.load(device_id);
    if (!loaded) return storage_failure(loaded.error(), *token);
    if (!*loaded || (*loaded)->deleted) return not_found(device_id, *token);
    const store::ShadowRecord& row = **loaded;
    const std::int64_t now = now_s();
    // The tombstone keeps the version so that a shadow created again continues from it.
    store::ShadowRecord tombstone;
    tombstone.device_id = std::string(device_id);
    tombstone.version = row.version;
    tombstone.updated_at_s = now;
    tombstone.deleted = true;
    auto saved = repository_.save(tombstone, store::ShadowStamp{row.version, false});
    if (!saved) return storage_failure(saved.error(), *token);
    if (*saved) {
      json accepted = {{"version", row.version}, {"timestamp", now}};
      if (*token) accepted["clientToken"] = **token;
      return DeleteOutcome{accepted.dump(), row.version};
    }
  }
  return tl::unexpected(
      Rejection{500, msg::kInternal, *token, "gave up after repeated concurrent writes"});
}

}  // namespace sp::shadow
