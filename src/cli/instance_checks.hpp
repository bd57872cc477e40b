#pragma once
// The checks behind `smartproductctl status` and `smartproductctl doctor` that need no running
// process: certificate expiry, key and directory permissions, free disk against the disk guard,
// clock skew from an HTTP Date header, listening sockets from /proc/net/tcp, a Prometheus sample.
// Each evaluation is a plain function of what was measured, so tests feed it files or values.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/config.hpp"

namespace sp::cli {

/// A certificate expiring within this many days makes `status` exit non-zero and both commands
/// warn.
inline constexpr int kExpiryWarningDays = 14;

enum class CheckLevel { kOk, kWarn, kFail };
std::string_view to_string(CheckLevel level);  // "ok" | "warn" | "fail"

/// One line of `doctor`: what was checked, how it went, and (unless ok) the one-line fix.
struct CheckResult {
  std::string check;  ///< e.g. "keys", "certificates", "ports"
  CheckLevel level = CheckLevel::kOk;
  std::string message;
  std::string fix;
};

// ---- certificates -------------------------------------------------------------------------------

/// The expiry of one certificate file of the instance.
struct CertExpiry {
  std::string name;  ///< "platform root", "https", "broker", "service", "device CA acme", ...
  std::filesystem::path path;
  std::string subject;
  std::string common_name;
  std::string fingerprint;  ///< SHA-256, to list a CA kept in two places once
  std::int64_t not_after_s = 0;
  std::int64_t days_left = 0;  ///< whole days until notAfter (negative: expired)
  std::string error;           ///< set when the file could not be read or parsed
};

/// Reads the first certificate of `path`; `error` says why not.
CertExpiry read_cert_expiry(std::string name, const std::filesystem::path& path,
                            std::int64_t now_s);
/// fail: unreadable or expired; warn: expires within `warn_days`; ok otherwise.
CheckLevel expiry_level(const CertExpiry& cert, int warn_days = kExpiryWarningDays);
/// "https expires in 5 days (2026-12-08)" and the like.
std::string describe_expiry(const CertExpiry& cert);

/// Where the instance's certificates are, beyond [http] and [broker] of the config.
struct CertificateSources {
  std::filesystem::path broker_cert;     ///< the broker's listener certificate (its certfile)
  std::filesystem::path managed_ca_dir;  ///< [jitr] managed_ca_dir: CAs the platform keeps
  std::filesystem::path ca_dir;          ///< [jitr] ca_dir: registered device CAs (capath)
};
/// Platform root, HTTPS, broker, service identity, then every device CA the broker trusts (the
/// capath: ACTIVE CAs), named as in managed_ca_dir when the platform keeps its key.
std::vector<CertExpiry> instance_certificates(const config::DaemonConfig& config,
                                              const CertificateSources& sources,
                                              std::int64_t now_s);

// ---- files --------------------------------------------------------------------------------------

struct FileFacts {
  bool exists = false;
  bool is_directory = false;
  unsigned mode = 0;  ///< permission bits (07777)
  uid_t uid = 0;
};
FileFacts file_facts(const std::filesystem::path& path);
/// The account name of `uid` ("uid 1234" when it has none).
std::string user_name(uid_t uid);

/// A private key must be a file of mode 0600 (0400 is fine) owned by `owner`.
CheckResult evaluate_key_file(const std::filesystem::path& path, const FileFacts& facts,
                              uid_t owner);
/// A directory of secrets or databases (data dir, PKI dir): owned by `owner`, owner rwx, nothing
/// writable by others (fail); readable by others is a warning.
CheckResult evaluate_private_dir(std::string_view what, const std::filesystem::path& path,
                                 const FileFacts& facts, uid_t owner);

// ---- disk, clock, metrics, sockets --------------------------------------------------------------

/// Free space on the data directory's file system against [telemetry] min_free_bytes (under it the
/// disk guard pauses telemetry intake: fail; under twice: warn), and the telemetry database's files
/// against max_disk_bytes (0: no limit).
CheckResult evaluate_disk(const std::filesystem::path& data_dir, std::optional<std::int64_t> free,
                          std::int64_t min_free_bytes, std::int64_t telemetry_bytes,
                          std::int64_t max_disk_bytes);

/// Seconds since the epoch of an IMF-fixdate ("Thu, 03 Dec 2026 13:45:00 GMT"), the form HTTP
/// servers send in Date.
std::optional<std::int64_t> parse_http_date(std::string_view text);
/// Skew of this host's clock against the daemon's Date header: ok within 5 s, warn within 300 s
/// (the backdating of issued certificates), fail beyond.
CheckResult evaluate_clock_skew(std::int64_t server_s, std::int64_t local_s);

/// The value of the first sample of `name` in a Prometheus text exposition (labels ignored).
std::optional<double> metric_value(std::string_view exposition, std::string_view name);

/// A listening TCP socket from /proc/net/tcp or /proc/net/tcp6.
struct ListeningSocket {
  std::uint16_t port = 0;
  std::uint64_t inode = 0;
};
std::vector<ListeningSocket> parse_listening_sockets(std::string_view proc_net_tcp);

/// Who listens on a local TCP port.
struct PortUse {
  bool listening = false;
  int pid = 0;          ///< 0: not visible (another user's process; root sees all)
  std::string process;  ///< its command name
};
PortUse port_use(std::uint16_t port);
/// "smartproductd (pid 123)", or "another user's process" when its pid is not visible.
std::string describe_user(const PortUse& use);

/// Sizes in B, KiB, MiB, GiB with one decimal.
std::string human_bytes(std::int64_t bytes);

}  // namespace sp::cli
