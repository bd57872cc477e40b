#pragma once
// smartproductctl status: is the instance doing its job? Asks the running daemon over HTTPS
// (/healthz, /readyz, /metrics; the instance's root CA as trust anchor), reads the database files
// and the certificates. Exit statuses (README "Status and doctor"): 0 all well, 1 the config cannot
// be read, 2 the daemon does not answer, 3 it is not ready, 4 a certificate expires within
// kExpiryWarningDays days (or has expired, or cannot be read). The first that applies wins.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "instance_checks.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::cli {

inline constexpr int kStatusOk = 0;
inline constexpr int kStatusError = 1;
inline constexpr int kStatusDaemonDown = 2;
inline constexpr int kStatusNotReady = 3;
inline constexpr int kStatusCertificates = 4;

/// What the running daemon says about itself.
struct DaemonState {
  std::string url;                     ///< https://localhost:PORT
  bool running = false;                ///< /healthz answered 200
  std::string error;                   ///< why not (connection refused, TLS failure, other status)
  bool ready = false;                  ///< /readyz answered 200
  std::vector<std::string> reasons;    ///< /readyz's reasons when not ready
  std::string date;                    ///< Date header of the /healthz answer
  std::int64_t asked_at_s = 0;         ///< local time of that answer
  std::optional<std::string> metrics;  ///< /metrics text (null: not served to us)
  std::string metrics_error;
};
/// Asks the daemon of `config` on its HTTPS port ([http] listen/port; the instance's root CA).
DaemonState probe_daemon(const config::DaemonConfig& config, long timeout_ms);

/// What the instance's mosquitto.conf says (the managed broker's, or the one generated for an
/// external broker); empty fields when it cannot be read.
struct BrokerFiles {
  std::filesystem::path conf;
  bool read = false;
  std::filesystem::path cert, key;   ///< certfile, keyfile
  std::vector<std::uint16_t> ports;  ///< listener ports
};
BrokerFiles read_broker_files(const std::filesystem::path& mosquitto_conf);

/// The certificate folders of the instance ([jitr] ca_dir/managed_ca_dir, the broker's certfile).
Result<CertificateSources> certificate_sources(const config::DaemonConfig& config,
                                               const BrokerFiles& broker);

struct DatabaseSize {
  std::string name;  ///< smartproduct.db, telemetry.db
  std::filesystem::path path;
  std::vector<std::pair<std::string, std::int64_t>> files;  ///< existing files: db, -wal, -shm
  std::int64_t bytes = 0;
  std::string error;  ///< why a file could not be measured (not: that it does not exist yet)
};
/// Sizes of each SQLite database file in the data directory, WAL and shared memory included.
std::vector<DatabaseSize> database_sizes(const std::filesystem::path& data_dir);

struct StatusReport {
  std::filesystem::path config_file;
  DaemonState daemon;
  std::optional<bool> broker_connected;
  std::optional<std::int64_t> broker_connects, broker_losses;
  std::string broker_detail;  ///< the readiness reason about the broker (without "broker: ")
  std::optional<std::int64_t> devices_registered, devices_connected;
  std::string devices_connected_source;  ///< "daemon" (live) | "database" (last recorded)
  std::string devices_error;
  std::vector<DatabaseSize> databases;
  std::vector<CertExpiry> certificates;
  std::vector<std::string> problems;  ///< one line per reason for a non-zero exit
  int exit_code = kStatusOk;
};

/// Everything `status` shows; `now_s` is this host's time.
StatusReport collect_status(const config::DaemonConfig& config, std::int64_t now_s,
                            long timeout_ms);
/// Fills `problems` and `exit_code` from the rest of the report.
void decide_status(StatusReport& report);

nlohmann::json status_json(const StatusReport& report);
void print_status(const StatusReport& report, std::ostream& out);

/// --json and --timeout, shared by status and doctor.
struct ReportOptions {
  bool json = false;
  double timeout_s = 5.0;
  long timeout_ms() const { return static_cast<long>(timeout_s * 1000); }
};
std::shared_ptr<ReportOptions> add_report_options(CLI::App* cmd);

void add_status_command(CLI::App& app);

}  // namespace sp::cli
