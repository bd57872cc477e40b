#include "fd_limit.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "mqtt_client.hpp"

namespace sp::sim {

std::size_t fds_needed(std::size_t devices) {
  return devices * static_cast<std::size_t>(kFdsPerClient) + kFdReserve;
}

FdLimitPlan plan_fd_limit(std::size_t needed, std::uint64_t soft, std::uint64_t hard) {
  FdLimitPlan plan;
  plan.new_soft = soft;
  if (needed > hard) {
    plan.ok = false;
    plan.message = fmt::format(
        "{} devices need about {} open files ({} per device + {}), but the hard limit "
        "(RLIMIT_NOFILE) is {}: raise it (ulimit -Hn as root, LimitNOFILE= for a service) or run "
        "at most {} devices per process",
        (needed - kFdReserve) / kFdsPerClient, needed, kFdsPerClient, kFdReserve, hard,
        hard > kFdReserve ? (hard - kFdReserve) / kFdsPerClient : 0);
    return plan;
  }
  if (needed > soft) {
    plan.new_soft = hard;
    plan.message =
        fmt::format("raised the open-file soft limit from {} to the hard limit {}", soft, hard);
  }
  return plan;
}

FdLimitPlan ensure_fd_limit(std::size_t devices) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return {false, 0, fmt::format("getrlimit(RLIMIT_NOFILE): {}", std::strerror(errno))};
  }
  auto plan = plan_fd_limit(fds_needed(devices), lim.rlim_cur, lim.rlim_max);
  if (plan.ok && plan.new_soft != lim.rlim_cur) {
    lim.rlim_cur = plan.new_soft;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      plan.ok = false;
      plan.message = fmt::format("cannot raise the open-file soft limit to {}: {}", plan.new_soft,
                                 std::strerror(errno));
    }
  }
  return plan;
}

}  // namespace sp::sim
