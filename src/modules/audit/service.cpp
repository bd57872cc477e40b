#include "smartproduct/audit/service.hpp"

#include <fmt/format.h>

#include <cctype>

#include "smartproduct/audit/checks.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/http/errors.hpp"

namespace sp::audit {

AuditService::AuditService(store::AuditRepository& repo, SnapshotSource& source, const Clock& clock,
                           EventBus& bus)
    : repo_(repo), source_(source), clock_(clock), bus_(bus) {}

Result<std::int64_t> AuditService::start_run(const std::string& trigger) {
  auto id = repo_.begin_run(trigger, clock_.now_ms());
  if (!id) {
    if (store::failure_of(id.error()) == store::Failure::kConflict) {
      return fail(errors::kAuditRunning, {}, id.error().message);
    }
    return tl::unexpected(errors::from_store(id.error()));
  }
  return *id;
}

Result<store::AuditRun> AuditService::execute(std::int64_t run_id) {
  const std::int64_t started = clock_.now_ms();
  auto snapshot = source_.collect(started);
  if (!snapshot) {
    (void)repo_.fail_run(run_id, snapshot.error().message, clock_.now_ms());
    return tl::unexpected(errors::from_store(snapshot.error()));
  }
  store::AuditRunResult result;
  for (const auto& check : all_checks()) {
    const auto before = result.findings.size();
    check.run(*snapshot, result.findings);
    result.checks[std::string(check.name)] = result.findings.size() - before;
  }
  for (const auto& note : snapshot->notes) result.notes.push_back(note);
  auto raised = repo_.finish_run(run_id, result, clock_.now_ms());
  if (!raised) {
    (void)repo_.fail_run(run_id, raised.error().message, clock_.now_ms());
    return tl::unexpected(errors::from_store(raised.error()));
  }
  auto stored = run(run_id);
  if (stored) {
    AuditRunCompleted done;
    done.run_id = run_id;
    done.findings = static_cast<std::int64_t>(result.findings.size());
    done.new_findings = static_cast<std::int64_t>(raised->size());
    for (std::int64_t id : *raised) {
      if (done.raised.size() == kMaxRaisedPublished) break;
      if (auto f = repo_.finding(id); f && *f) done.raised.push_back(std::move(**f));
    }
    bus_.publish(std::move(done));
  }
  return stored;
}

Result<store::AuditRun> AuditService::run_now(const std::string& trigger) {
  auto id = start_run(trigger);
  if (!id) return tl::unexpected(id.error());
  return execute(*id);
}

Result<std::int64_t> AuditService::fail_interrupted() {
  auto n = repo_.fail_interrupted_runs(clock_.now_ms());
  if (!n) return tl::unexpected(errors::from_store(n.error()));
  return *n;
}

Result<store::AuditRun> AuditService::run(std::int64_t id) {
  auto r = repo_.run(id);
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  if (!*r) return fail(errors::kAuditRunNotFound);
  return std::move(**r);
}

Result<std::vector<store::AuditRun>> AuditService::runs(int limit,
                                                        std::optional<std::int64_t> before_id) {
  auto r = repo_.runs(limit, before_id);
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  return r;
}

Result<std::vector<store::AuditFinding>> AuditService::findings(
    const store::AuditFindingFilter& filter, int limit, std::optional<std::int64_t> before_id) {
  auto r = repo_.findings(filter, limit, before_id);
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  return r;
}

Result<std::vector<store::AuditRepository::FindingCount>> AuditService::finding_counts() {
  auto r = repo_.finding_counts();
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  return r;
}

Result<store::AuditFinding> AuditService::finding(std::int64_t id) {
  auto r = repo_.finding(id);
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  if (!*r) return fail(errors::kAuditFindingNotFound);
  return std::move(**r);
}

Result<store::AuditFinding> AuditService::update_finding(std::int64_t id,
                                                         const FindingChange& change) {
  const std::int64_t now = clock_.now_ms();
  std::optional<std::string> reason;
  std::optional<std::int64_t> until;
  if (change.status == "suppressed") {
    if (!change.reason || change.reason->empty() || change.reason->size() > 500) {
      return fail(errors::kInvalidParameter, "reason (1 to 500 characters) is required.");
    }
    if (change.until_ms && *change.until_ms <= now) {
      return fail(errors::kInvalidParameter, "until must be in the future.");
    }
    reason = change.reason;
    until = change.until_ms;
  } else if (change.status != "open") {
    return fail(errors::kInvalidParameter, "status must be suppressed or open.");
  }
  auto current = finding(id);
  if (!current) return current;
  if (current->status == "resolved") {
    return fail(errors::kInvalidParameter,
                "The finding is resolved; it reopens by itself when it fires again.");
  }
  auto r = repo_.set_finding_status(id, change.status, reason, until, now);
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  if (!*r) return fail(errors::kAuditFindingNotFound);
  return finding(id);
}

AuditSettings read_audit_settings(config::Section& section) {
  AuditSettings settings;
  auto schedule = parse_schedule(section.string("schedule", "03:00"));
  if (schedule) {
    settings.schedule_minute_of_day = *schedule;
  } else {
    section.error("schedule", schedule.error().message);
  }
  settings.expiry_warning_days =
      static_cast<int>(section.integer("expiry_warning_days", 30, 1, 3650));
  settings.admin_inactive_days =
      static_cast<int>(section.integer("admin_inactive_days", 90, 1, 3650));
  section.finish();
  return settings;
}

SnapshotPaths snapshot_paths(const config::DaemonConfig& c, const std::filesystem::path& ca_dir,
                             const std::filesystem::path& managed_ca_dir) {
  SnapshotPaths paths;
  paths.mosquitto_conf = c.broker.mosquitto_conf;
  paths.ca_dir = ca_dir;
  paths.platform_certs = {c.broker.ca_file, c.http.cert, c.broker.cert};
  // The broker's folder holds its listener key (a managed broker's server.key).
  paths.key_dirs = {c.http.key.parent_path(), c.broker.key.parent_path(), managed_ca_dir,
                    c.broker.mosquitto_conf.parent_path()};
  paths.daemon_log_level = c.log.level;
  return paths;
}

Result<std::optional<int>> parse_schedule(std::string_view text) {
  if (text == "off") return std::optional<int>{};
  auto digit = [&](std::size_t i) { return std::isdigit(static_cast<unsigned char>(text[i])); };
  if (text.size() == 5 && digit(0) && digit(1) && text[2] == ':' && digit(3) && digit(4)) {
    const int h = (text[0] - '0') * 10 + (text[1] - '0');
    const int m = (text[3] - '0') * 10 + (text[4] - '0');
    if (h < 24 && m < 60) return std::optional<int>(h * 60 + m);
  }
  return fail(ErrorKind::kUnprocessable, "ConfigError",
              "must be a daily time \"HH:MM\" (UTC) or \"off\"");
}

std::int64_t next_scheduled_ms(std::int64_t now_ms, int minute_of_day) {
  constexpr std::int64_t kDay = 86400LL * 1000;
  const std::int64_t day_start = now_ms - (now_ms % kDay + kDay) % kDay;
  std::int64_t t = day_start + static_cast<std::int64_t>(minute_of_day) * 60 * 1000;
  if (t <= now_ms) t += kDay;
  return t;
}

}  // namespace sp::audit
