#pragma once
// The security audit service: starts and executes runs (checks over a snapshot), keeps findings
// (open, suppressed with a reason and an expiry, resolved), and answers the admin routes. Plain
// C++: no HTTP, MQTT or SQLite types. Errors: AuditRunning (409), AuditRunNotFound (404),
// AuditFindingNotFound (404), InvalidParameter (422).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/audit/types.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/store/audit_repository.hpp"

namespace sp::config {
class Section;
struct DaemonConfig;
}  // namespace sp::config

namespace sp::audit {

/// Reads and validates [audit] (schedule "HH:MM" UTC or "off", expiry_warning_days). Finishes the
/// section. Used by the daemon's module and by smartproductctl audit run.
AuditSettings read_audit_settings(config::Section& section);

/// Collects what a run looks at.
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  virtual Result<Snapshot> collect(std::int64_t now_ms) = 0;
};

/// Where the files the audit reads are (resolved by the composition root from the config).
struct SnapshotPaths {
  std::filesystem::path mosquitto_conf;  ///< the broker's config (acl_file, state file from it)
  std::filesystem::path ca_dir;          ///< the broker's capath when the conf does not name one
  std::vector<std::filesystem::path> platform_certs;  ///< root CA, HTTPS, service identity
  std::vector<std::filesystem::path> key_dirs;        ///< scanned for *.key (not recursive)
  std::string daemon_log_level = "info";
};

/// The files of an instance: its broker config, platform certificates and the folders of its
/// private keys (those of [http] key, [broker] key, [jitr] managed_ca_dir and the broker config's).
SnapshotPaths snapshot_paths(const config::DaemonConfig& config,
                             const std::filesystem::path& ca_dir,
                             const std::filesystem::path& managed_ca_dir);

/// The snapshot from the store (device certificates, CAs, presence history) and the files.
class StoreSnapshotSource final : public SnapshotSource {
 public:
  StoreSnapshotSource(store::AuditRepository& repo, SnapshotPaths paths,
                      const AuditSettings& settings);
  Result<Snapshot> collect(std::int64_t now_ms) override;

 private:
  store::AuditRepository& repo_;
  SnapshotPaths paths_;
  AuditSettings settings_;
};

/// The public key of the first certificate in `pem` (type empty when unreadable).
KeyInfo certificate_key(std::string_view pem);

/// Published on the bus after a run completed.
struct AuditRunCompleted {
  std::int64_t run_id = 0;
  std::int64_t findings = 0;  ///< firing in this run
  /// The findings this run made open: first seen, reopened, or their suppression expired (at
  /// most kMaxRaisedPublished of them; new_findings counts them all).
  std::vector<store::AuditFinding> raised;
  std::int64_t new_findings = 0;
};
inline constexpr std::size_t kMaxRaisedPublished = 100;

/// PUT /api/admin/audit/findings/{id}.
struct FindingChange {
  std::string status;  ///< "suppressed" | "open"
  std::optional<std::string> reason;
  std::optional<std::int64_t> until_ms;
};

class AuditService {
 public:
  AuditService(store::AuditRepository& repo, SnapshotSource& source, const Clock& clock,
               EventBus& bus);

  /// Records a new running run; 409 AuditRunning when one is running.
  Result<std::int64_t> start_run(const std::string& trigger);
  /// Collects the snapshot, runs every check and stores the outcome; a failure marks the run
  /// failed. Returns the finished run.
  Result<store::AuditRun> execute(std::int64_t run_id);
  /// start_run + execute (scheduler, CLI).
  Result<store::AuditRun> run_now(const std::string& trigger);
  /// Runs left 'running' by a process that died (called at start).
  Result<std::int64_t> fail_interrupted();

  Result<store::AuditRun> run(std::int64_t id);
  Result<std::vector<store::AuditRun>> runs(int limit, std::optional<std::int64_t> before_id);
  Result<std::vector<store::AuditFinding>> findings(const store::AuditFindingFilter& filter,
                                                    int limit,
                                                    std::optional<std::int64_t> before_id);
  Result<store::AuditFinding> finding(std::int64_t id);
  Result<std::vector<store::AuditRepository::FindingCount>> finding_counts();
  Result<store::AuditFinding> update_finding(std::int64_t id, const FindingChange& change);

 private:
  store::AuditRepository& repo_;
  SnapshotSource& source_;
  const Clock& clock_;
  EventBus& bus_;
};

/// "HH:MM" -> minute of the day; "off" -> nullopt; anything else: error text.
Result<std::optional<int>> parse_schedule(std::string_view text);
/// The first scheduled time strictly after `now_ms` (UTC).
std::int64_t next_scheduled_ms(std::int64_t now_ms, int minute_of_day);

}  // namespace sp::audit
