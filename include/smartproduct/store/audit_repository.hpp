#pragma once
// Storage of the security audit (module audit): runs, findings, and the read-only queries that
// collect a run's snapshot from the device, CA and presence tables. Times are epoch ms.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/audit/types.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::store {

struct AuditRun {
  std::int64_t id = 0;
  std::string trigger;  ///< scheduled | manual
  std::string status;   ///< running | completed | failed
  std::int64_t started_at_ms = 0;
  std::optional<std::int64_t> finished_at_ms;
  nlohmann::json checks = nlohmann::json::object();  ///< check name -> findings raised
  nlohmann::json notes = nlohmann::json::array();    ///< what could not be read
  std::string error;
};

struct AuditFinding {
  std::int64_t id = 0;
  std::string check;
  std::string severity;
  std::string resource_type;
  std::string resource_id;
  std::string reason;
  nlohmann::json details = nlohmann::json::object();
  std::string status;  ///< open | suppressed | resolved
  std::optional<std::string> suppress_reason;
  std::optional<std::int64_t> suppressed_until_ms;
  std::int64_t first_seen_ms = 0;
  std::int64_t last_seen_ms = 0;
  std::optional<std::int64_t> resolved_at_ms;
  std::int64_t first_run = 0;
  std::int64_t last_run = 0;
};

struct AuditFindingFilter {
  std::optional<std::string> check;
  std::optional<std::string> severity;
  std::optional<std::string> status;
  /// Findings about this device: its own resource, or its certificate's / client id's.
  std::optional<std::string> device_id;
};

/// What finishing a run stores: its findings and, per check that ran, how many it raised.
struct AuditRunResult {
  std::vector<audit::Finding> findings;
  nlohmann::json checks = nlohmann::json::object();
  nlohmann::json notes = nlohmann::json::array();
};

class AuditRepository {
 public:
  virtual ~AuditRepository() = default;

  /// A new running run; Failure::kConflict when one is running already.
  virtual Result<std::int64_t> begin_run(const std::string& trigger, std::int64_t now_ms) = 0;
  /// In one transaction: upserts every finding (new: open; firing again: last seen updated, a
  /// resolved one reopened, an expired suppression reopened), resolves the open or suppressed
  /// findings of the run's checks that did not fire, and completes the run. Returns the ids of
  /// the findings this run made open (new, reopened, suppression expired), in `result` order.
  virtual Result<std::vector<std::int64_t>> finish_run(std::int64_t run_id,
                                                       const AuditRunResult& result,
                                                       std::int64_t now_ms) = 0;
  virtual Result<void> fail_run(std::int64_t run_id, const std::string& error,
                                std::int64_t now_ms) = 0;
  /// Marks runs still 'running' as failed (a daemon or CLI that died mid-run); returns how many.
  virtual Result<std::int64_t> fail_interrupted_runs(std::int64_t now_ms) = 0;

  virtual Result<std::optional<AuditRun>> run(std::int64_t id) = 0;
  /// Newest first; `before_id` pages on. At most `limit` rows.
  virtual Result<std::vector<AuditRun>> runs(int limit, std::optional<std::int64_t> before_id) = 0;
  /// Newest first (by id); filters are exact matches.
  virtual Result<std::vector<AuditFinding>> findings(const AuditFindingFilter& filter, int limit,
                                                     std::optional<std::int64_t> before_id) = 0;
  virtual Result<std::optional<AuditFinding>> finding(std::int64_t id) = 0;
  /// How many findings are open and suppressed, by check and severity (resolved ones are not
  /// counted): one row per (status, check, severity) that has any.
  struct FindingCount {
    std::string status;
    std::string check;
    std::string severity;
    std::int64_t count = 0;
  };
  virtual Result<std::vector<FindingCount>> finding_counts() = 0;
  /// Sets status open or suppressed (with reason and until); false when unknown.
  virtual Result<bool> set_finding_status(std::int64_t id, const std::string& status,
                                          const std::optional<std::string>& reason,
                                          std::optional<std::int64_t> until_ms,
                                          std::int64_t now_ms) = 0;

  // The snapshot's rows (one consistent read each).
  virtual Result<std::vector<audit::DeviceCert>> device_certificates() = 0;
  /// Registered CAs with their PEM in `pem_out` (same order), connected devices counted.
  virtual Result<std::vector<audit::CaCert>> certificate_authorities(
      std::vector<std::string>& pem_out) = 0;
  /// Connects and disconnects from `since_ms` on, oldest first.
  virtual Result<std::vector<audit::Connection>> connections_since(std::int64_t since_ms) = 0;
  /// Enabled administrators with their newest sign-in.
  virtual Result<std::vector<audit::AdminAccount>> admin_accounts() = 0;
};

}  // namespace sp::store
