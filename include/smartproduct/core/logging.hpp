#pragma once
// Logging setup. Everything logs through spdlog's default logger; this only decides where it goes,
// and tags the lines written while an HTTP request is handled with that request's id.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace sp::logging {

/// sink: "stdout", "journald" (stdout with <N> syslog priority prefixes, which journald
/// understands, and no timestamp of our own), or "auto" (journald when started by systemd, i.e.
/// JOURNAL_STREAM set). format: "text" (one readable line) or "json" (one JSON object per line,
/// see json_log_line; with journald after the <N> prefix).
void setup(std::string_view sink, std::string_view level, std::string_view format = "text");

/// One log line in the JSON format, without the line feed:
/// {"ts":"2026-12-03T13:30:00.123Z","level":"info","logger":"smartproductd","msg":"...","req":"..."}
/// ("req" only when `request_id` is not empty). Control characters, quotes and backslashes are
/// escaped, invalid UTF-8 becomes U+FFFD: every line parses as JSON whatever was logged.
std::string json_log_line(std::chrono::system_clock::time_point ts, std::string_view level,
                          std::string_view logger, std::string_view message,
                          std::string_view request_id);

/// Changes the level at run time (SIGHUP). Returns false for an unknown level name.
bool set_level(std::string_view level);

/// True when `level` is one of trace, debug, info, warn, error.
bool is_valid_level(std::string_view level);

/// Longest request id kept (and accepted from a client's X-Request-Id).
inline constexpr std::size_t kMaxRequestIdBytes = 64;

/// The request id of the calling thread (empty outside a RequestIdScope). Every line logged
/// through a logger made by setup() while it is set starts its message with "req=<id> ".
std::string_view request_id();

/// Sets the calling thread's request id for the scope's lifetime and restores the previous one
/// afterwards. The HTTP dispatcher opens one around each handler (one request per worker thread
/// at a time). Ids longer than kMaxRequestIdBytes are cut. Allocates nothing.
class RequestIdScope {
 public:
  explicit RequestIdScope(std::string_view id) noexcept;
  ~RequestIdScope();
  RequestIdScope(const RequestIdScope&) = delete;
  RequestIdScope& operator=(const RequestIdScope&) = delete;

 private:
  char previous_[kMaxRequestIdBytes];
  std::size_t previous_size_;
};

}  // namespace sp::logging
