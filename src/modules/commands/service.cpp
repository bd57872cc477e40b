#include "smartproduct/commands/service.hpp"

#include <spdlog/spdlog.h>

#include "modules/commands/schema.hpp"
#include "smartproduct/commands/events.hpp"
#include "smartproduct/core/ids.hpp"
#include "smartproduct/http/errors.hpp"
#include "smartproduct/shadow/events.hpp"
#include "smartproduct/shadow/service.hpp"
#include "smartproduct/shadow/topics.hpp"

namespace sp::commands {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxCommandIdBytes = 64;
constexpr std::size_t kMaxReasonBytes = 256;

}  // namespace

json command_to_json(const Command& c) {
  json out = {{"commandId", c.id},
              {"deviceId", c.device_id},
              {"userId", c.owner},
              {"status", to_string(c.status)},
              {"details", {{"command", c.command}, {"value", c.value}}},
              {"field", c.field},
              {"createdAt", iso8601_ms(c.created_at_ms)},
              {"updatedAt", iso8601_ms(c.updated_at_ms)},
              {"expiresAt", iso8601_ms(c.expires_at_ms)}};
  if (c.reason) out["reason"] = *c.reason;
  return out;
}

json command_message(const Command& c) {
  return {{"commandId", c.id},
          {"deviceId", c.device_id},
          {"status", "pending"},
          {"details", c.details}};
}

std::string_view to_string(ReplyResult r) {
  switch (r) {
    case ReplyResult::kApplied:
      return "applied";
    case ReplyResult::kIgnored:
      return "ignored";
    case ReplyResult::kInvalid:
      return "invalid";
    case ReplyResult::kUnknown:
      return "unknown";
    case ReplyResult::kForeign:
      return "foreign";
    case ReplyResult::kNotPending:
      return "not_pending";
    case ReplyResult::kStoreFailed:
      return "store_failed";
  }
  return "invalid";
}

CommandService::CommandService(store::CommandRepository& repository, const Clock& clock,
                               EventBus& bus, mqtt::Publisher& publisher, Settings settings,
                               shadow::Limits shadow_limits)
    : repository_(repository),
      clock_(clock),
      bus_(bus),
      publisher_(publisher),
      settings_(std::move(settings)),
      shadow_limits_(shadow_limits) {}

std::string CommandService::command_topic(const std::string& device_id) const {
  return settings_.topic + "/" + device_id;
}

void CommandService::announce(const Command& command) { bus_.publish(CommandUpdated{command}); }

void CommandService::send(const Command& command) {
  publisher_.publish(command_topic(command.device_id), command_message(command).dump(), 1, false);
}

Result<Command> CommandService::create(const Target& target, const json& body) {
  auto schema = schema_from_details(target.model_details);
  if (!schema) return tl::unexpected(schema.error());
  auto valid = validate_command(*schema, body, settings_.max_ttl_s);
  if (!valid) return tl::unexpected(valid.error());

  const std::int64_t now = clock_.now_ms();
  Command c;
  c.id = ids::uuid_v4();
  c.device_id = target.device_id;
  c.owner = target.owner;
  c.command = valid->command;
  c.value = valid->value;
  c.details = valid->details;
  c.field = valid->field;
  c.created_at_ms = c.updated_at_ms = now;
  c.expires_at_ms = now + valid->ttl_s.value_or(settings_.timeout_s) * 1000;

  // Only the field this command sets goes into desired (never actualTemperature: upstream #7),
  // by the shadow's own rules (version, metadata, delta, limits).
  std::optional<shadow::UpdateOutcome> shadow_outcome;
  const json desired = {{c.field, c.value}};
  store::ShadowEdit edit =
      [&](const std::optional<store::ShadowRecord>& stored) -> Result<store::ShadowRecord> {
    auto plan = shadow::plan_desired(c.device_id, stored, desired, now / 1000, shadow_limits_);
    if (!plan) return tl::unexpected(plan.error().to_error());
    shadow_outcome = std::move(plan->outcome);
    return std::move(plan->record);
  };
  auto created = repository_.create(c, edit);
  if (!created) {
    // A refusal of the shadow edit (e.g. the state would exceed 8 KiB) is already an API error.
    if (store::failure_of(created.error())) {
      spdlog::error("commands: create for {} failed: {} ({})", c.device_id, created.error().message,
                    created.error().detail);
    }
    return tl::unexpected(errors::from_store(created.error()));
  }
  ++created_;

  // Committed: the device gets the delta first (the seed's devices apply it and arm their reply),
  // then the command itself.
  if (shadow_outcome) {
    for (auto& p : shadow::update_publications(c.device_id, *shadow_outcome)) {
      publisher_.publish(std::move(p.topic), std::move(p.payload), 1, false);
    }
    bus_.publish(shadow::ShadowUpdated{c.device_id, shadow_outcome->current});
  }
  for (const auto& old : created->superseded) {
    ++superseded_;
    announce(old);
  }
  send(created->command);
  announce(created->command);
  return std::move(created->command);
}

Result<CommandPage> CommandService::list(std::string_view device_id,
                                         const std::optional<std::string>& owner,
                                         std::optional<CommandStatus> status, int limit,
                                         const std::optional<CommandKey>& after) {
  // One row more than the page says whether another page exists.
  auto rows = repository_.list(device_id, owner, status, limit + 1, after);
  if (!rows) return tl::unexpected(errors::from_store(rows.error()));
  CommandPage page;
  page.items = std::move(*rows);
  if (static_cast<int>(page.items.size()) > limit) {
    page.items.resize(static_cast<std::size_t>(limit));
    const Command& last = page.items.back();
    page.next = CommandKey{last.created_at_ms, last.seq};
  }
  return page;
}

Result<Command> CommandService::get(std::string_view device_id,
                                    const std::optional<std::string>& owner,
                                    std::string_view command_id) {
  auto row = repository_.find(device_id, command_id);
  if (!row) return tl::unexpected(errors::from_store(row.error()));
  if (!*row || (owner && (*row)->owner != *owner)) return fail(errors::kMissingCommand);
  return std::move(**row);
}

ReplyResult CommandService::on_reply(const std::string& device_id, const json& reply) {
  const auto status_it = reply.find("status");
  // The seed's devices share the command topic with us: a message without a reply status (or
  // "pending", our own command seen again) is not a reply.
  if (status_it == reply.end() || *status_it == "pending") return ReplyResult::kIgnored;
  const auto id = reply.find("commandId");
  if (id == reply.end() || !id->is_string() || id->get_ref<const std::string&>().empty() ||
      id->get_ref<const std::string&>().size() > kMaxCommandIdBytes) {
    return ReplyResult::kInvalid;
  }
  std::optional<CommandStatus> status;
  if (status_it->is_string()) status = command_status_from(status_it->get<std::string>());
  if (status != CommandStatus::kSuccess && status != CommandStatus::kFailed) {
    return ReplyResult::kInvalid;
  }
  std::string reason(to_string(*status));
  if (auto r = reply.find("reason"); r != reply.end() && !r->is_null()) {
    if (!r->is_string() || r->get_ref<const std::string&>().size() > kMaxReasonBytes) {
      return ReplyResult::kInvalid;
    }
    reason = r->get<std::string>();
  }
  auto done =
      repository_.complete(device_id, id->get<std::string>(), *status, reason, clock_.now_ms());
  if (!done) {
    spdlog::error("commands: reply of {} not stored: {} ({})", device_id, done.error().message,
                  done.error().detail);
    return ReplyResult::kStoreFailed;
  }
  switch (done->outcome) {
    case store::ReplyOutcome::kApplied:
      announce(*done->command);
      return ReplyResult::kApplied;
    case store::ReplyOutcome::kUnknown:
      return ReplyResult::kUnknown;
    case store::ReplyOutcome::kForeign:
      return ReplyResult::kForeign;
    case store::ReplyOutcome::kNotPending:
      return ReplyResult::kNotPending;
  }
  return ReplyResult::kInvalid;
}

void CommandService::on_connected(const std::string& device_id) {
  std::lock_guard lock(resend_mutex_);
  resend_due_[device_id] = clock_.now_ms() + settings_.resend_delay_ms;
}

void CommandService::on_device_deleted(const std::string& device_id) {
  auto rows = repository_.fail_pending(device_id, "device deleted", clock_.now_ms());
  if (!rows) {
    // They still time out; nothing is resent to a deleted device meanwhile (no live registration
    // is needed for that, so say it in the log).
    spdlog::warn("commands: cannot fail the pending commands of deleted {}: {}", device_id,
                 rows.error().message);
    return;
  }
  for (const auto& c : *rows) announce(c);
}

std::size_t CommandService::tick() {
  const std::int64_t now = clock_.now_ms();
  std::size_t expired = 0;
  if (auto rows = repository_.expire(now); rows) {
    for (const auto& c : *rows) announce(c);
    expired = rows->size();
    expired_ += expired;
  } else {
    spdlog::warn("commands: timeout sweep failed: {} ({})", rows.error().message,
                 rows.error().detail);
  }
  std::vector<std::string> due;
  {
    std::lock_guard lock(resend_mutex_);
    for (auto it = resend_due_.begin(); it != resend_due_.end();) {
      if (it->second <= now) {
        due.push_back(it->first);
        it = resend_due_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& device_id : due) {
    auto pending = repository_.pending(device_id, now);
    if (!pending) {
      spdlog::warn("commands: cannot resend to {}: {}", device_id, pending.error().message);
      continue;
    }
    for (const auto& c : *pending) {
      send(c);
      ++resent_;
    }
  }
  return expired;
}

CommandService::Stats CommandService::stats() const {
  return {created_.load(), expired_.load(), superseded_.load(), resent_.load()};
}

}  // namespace sp::commands
