#pragma once
// The open-file limit a fleet in one process needs: one descriptor per device (its socket; see
// kFdsPerClient) plus a small reserve.

#include <cstddef>
#include <cstdint>
#include <string>

namespace sp::sim {

/// Descriptors besides the devices' sockets: stdio, logs, the certificate and key files a TLS
/// handshake opens for a moment, epoll sets, the REST client of --register-as.
inline constexpr std::size_t kFdReserve = 64;

/// Descriptors `devices` simulated devices need in one process.
std::size_t fds_needed(std::size_t devices);

/// What to do with RLIMIT_NOFILE (soft, hard) for `needed` descriptors: keep it, raise the soft
/// limit to the hard one, or give up (the hard limit is too low; only root can raise it).
struct FdLimitPlan {
  bool ok = true;
  std::uint64_t new_soft = 0;  ///< == soft when nothing changes
  std::string message;         ///< empty when nothing changes; else what was done or why not
};
FdLimitPlan plan_fd_limit(std::size_t needed, std::uint64_t soft, std::uint64_t hard);

/// plan_fd_limit for this process's limits, applied (setrlimit) when it raises the soft limit.
FdLimitPlan ensure_fd_limit(std::size_t devices);

}  // namespace sp::sim
