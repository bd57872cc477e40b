#pragma once
// The systemd service notification protocol (sd_notify(3)), spoken directly: one datagram of
// "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET. With Type=notify the unit is
// "started" only when the daemon says READY=1, and with WatchdogSec= systemd restarts it when the
// WATCHDOG=1 pings stop. Without $NOTIFY_SOCKET (not run by systemd) every call does nothing.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sp::app {

class SystemdNotifier {
 public:
  /// Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID (pings only when that pid is ours).
  static SystemdNotifier from_environment();

  bool enabled() const { return !socket_.empty(); }
  /// Sends one notification ("READY=1", "STOPPING=1", "STATUS=...", ...). False on failure.
  bool notify(std::string_view state) const;
  /// How often to send WATCHDOG=1 (half the configured timeout), if systemd asked for pings.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

 private:
  std::string socket_;  // a path, or "@name" for the abstract namespace
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace sp::app
