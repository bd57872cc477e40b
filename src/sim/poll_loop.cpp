#include "poll_loop.hpp"

#include <poll.h>

#include <thread>

namespace sp::sim {

namespace {
// Bounds how late a tick (publishing after PUBACKs, reconnect timers, keepalive) can run when no
// socket is ready.
constexpr int kPollTimeoutMs = 10;
}  // namespace

void run_poll_loop(const std::vector<PolledClient*>& clients,
                   const std::function<void(SteadyClock::time_point)>& per_iteration) {
  std::vector<pollfd> fds;
  std::vector<PolledClient*> polled;
  fds.reserve(clients.size());
  polled.reserve(clients.size());
  while (true) {
    auto now = SteadyClock::now();
    bool all_finished = true;
    for (auto* c : clients) {
      if (c->finished()) continue;
      c->tick(now);
      if (!c->finished()) all_finished = false;
    }
    if (per_iteration) per_iteration(now);
    if (all_finished) return;

    fds.clear();
    polled.clear();
    for (auto* c : clients) {
      if (c->finished()) continue;
      int fd = c->mqtt().socket();
      if (fd < 0) continue;
      short events = POLLIN;
      if (c->mqtt().want_write()) events |= POLLOUT;
      fds.push_back({fd, events, 0});
      polled.push_back(c);
    }
    if (fds.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollTimeoutMs));
      continue;
    }
    int ready = ::poll(fds.data(), fds.size(), kPollTimeoutMs);
    for (std::size_t i = 0; ready > 0 && i < fds.size(); ++i) {
      auto& m = polled[i]->mqtt();
      // Errors surface through the listener's on_disconnect (libmosquitto closes the socket and
      // reports the cause), so the return codes need no handling here.
      if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) m.loop_read();
      if ((fds[i].revents & POLLOUT) && m.socket() >= 0) m.loop_write();
    }
    for (auto* c : polled) {
      if (c->mqtt().socket() >= 0) c->mqtt().loop_misc();
    }
  }
}

}  // namespace sp::sim
