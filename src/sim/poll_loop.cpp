#include "poll_loop.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <queue>
#include <stdexcept>
#include <string>

namespace sp::sim {

namespace {

using namespace std::chrono_literals;

// Clients without their own timers (load generators) are ticked on every pass; this bounds how
// long a pass waits for them, as the old poll(2) loop did.
constexpr auto kLegacyTickPeriod = 10ms;
// The longest sleep: how late per_iteration may observe a stop request.
constexpr auto kMaxSleep = 200ms;
// Due ticks processed per pass before the loop reads sockets again: a pass of blocking connects
// (TCP + TLS handshake, a few ms each) must not hold back the CONNACKs and commands of everyone
// else for the whole storm.
constexpr auto kTickBudget = 20ms;
constexpr int kMaxEvents = 256;
// How often the keepalive sweep looks for clients whose loop_misc is due.
constexpr auto kSweepPeriod = 500ms;

struct Due {
  SteadyClock::time_point at;
  std::size_t index;
  bool operator>(const Due& o) const { return at > o.at; }
};

class Loop {
 public:
  explicit Loop(const std::vector<PolledClient*>& clients)
      : clients_(clients), slots_(clients.size()) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) {
      throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    }
  }
  ~Loop() { ::close(epoll_); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  void run(const std::function<bool(SteadyClock::time_point)>& per_iteration) {
    const auto start = SteadyClock::now();
    for (std::size_t i = 0; i < clients_.size(); ++i) schedule(i, start);
    std::vector<epoll_event> events(kMaxEvents);
    std::vector<std::size_t> touched;
    while (true) {
      auto now = SteadyClock::now();
      const auto budget_end = now + kTickBudget;
      // Timers that are due, oldest first, within the budget.
      while (!heap_.empty() && heap_.top().at <= now && SteadyClock::now() < budget_end) {
        const auto d = heap_.top();
        heap_.pop();
        if (slots_[d.index].scheduled != d.at) continue;  // superseded entry
        process(d.index, SteadyClock::now());
      }
      for (auto i : touched) process(i, SteadyClock::now());
      touched.clear();
      now = SteadyClock::now();
      if (now >= next_sweep_) sweep(now, touched);
      if (per_iteration && per_iteration(now)) {
        for (std::size_t i = 0; i < clients_.size(); ++i) process(i, now);
      }
      if (finished_ == clients_.size()) return;

      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(kMaxSleep);
      while (!heap_.empty() && slots_[heap_.top().index].scheduled != heap_.top().at) heap_.pop();
      if (!heap_.empty()) {
        const auto until = heap_.top().at - SteadyClock::now();
        wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(until),
                          std::chrono::milliseconds(0), wait);
      }
      const int n = ::epoll_wait(epoll_, events.data(), kMaxEvents, static_cast<int>(wait.count()));
      if (n < 0 && errno != EINTR) {
        throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
      }
      for (int k = 0; k < n; ++k) {
        const auto i = static_cast<std::size_t>(events[k].data.u64);
        auto& s = slots_[i];
        auto& m = clients_[i]->mqtt();
        // A stale event (the socket was closed and the number maybe reused) is harmless: the
        // client is re-registered when it is processed.
        if (s.finished || m.socket() != s.fd) {
          touched.push_back(i);
          continue;
        }
        // Errors surface through the listener's on_disconnect (libmosquitto closes the socket and
        // reports the cause), so the return codes need no handling here.
        if (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) m.loop_read();
        if ((events[k].events & EPOLLOUT) && m.socket() >= 0) m.loop_write();
        touched.push_back(i);
      }
      std::sort(touched.begin(), touched.end());
      touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    }
  }

 private:
  struct Slot {
    SteadyClock::time_point scheduled = SteadyClock::time_point::max();
    SteadyClock::time_point misc_at{};
    int fd = -1;
    std::uint64_t connection = 0;  ///< MqttClient::connection_attempts() when fd was registered
    std::uint32_t events = 0;
    bool finished = false;
  };

  void process(std::size_t i, SteadyClock::time_point now) {
    auto& s = slots_[i];
    if (s.finished) return;
    auto* c = clients_[i];
    c->tick(now);
    auto& m = c->mqtt();
    if (c->finished()) {
      s.finished = true;
      ++finished_;
      if (s.fd >= 0 && m.socket() == s.fd) ::epoll_ctl(epoll_, EPOLL_CTL_DEL, s.fd, nullptr);
      s.fd = -1;
      s.scheduled = SteadyClock::time_point::max();
      return;
    }
    sync(i);
    auto next = c->next_tick();
    if (next == SteadyClock::time_point::min()) next = now + kLegacyTickPeriod;
    // Due now: queued behind what was due earlier, not ahead of it.
    schedule(i, std::max(next, now));
  }

  // Keepalive for every connected client, apart from the timer heap: during a connect storm the
  // heap is full of devices waiting to connect, and a keepalive queued behind them went out too
  // late (measured: the broker dropped 5,700 of 10,000 devices for "exceeded timeout").
  void sweep(SteadyClock::time_point now, std::vector<std::size_t>& touched) {
    next_sweep_ = now + kSweepPeriod;
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      auto& s = slots_[i];
      if (s.finished || s.fd < 0 || now < s.misc_at) continue;
      auto& m = clients_[i]->mqtt();
      if (m.socket() < 0) continue;
      m.loop_misc();  // may end the connection (no PINGRESP): the client then needs a tick
      s.misc_at = now + misc_interval(m.keepalive_s());
      if (m.socket() != s.fd) touched.push_back(i);
    }
  }

  void schedule(std::size_t i, SteadyClock::time_point at) {
    auto& s = slots_[i];
    if (s.scheduled == at) return;
    s.scheduled = at;
    if (at != SteadyClock::time_point::max()) heap_.push({at, i});
  }

  // Keeps the epoll registration in step with the client's socket. libmosquitto closes sockets
  // itself (which removes them from the epoll set) and may reopen the same number on reconnect,
  // so a new connection attempt always re-adds.
  void sync(std::size_t i) {
    auto& s = slots_[i];
    auto& m = clients_[i]->mqtt();
    const int fd = m.socket();
    if (fd < 0) {
      s.fd = -1;
      return;
    }
    const std::uint32_t want = EPOLLIN | (m.want_write() ? EPOLLOUT : 0U);
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = i;
    if (fd != s.fd || m.connection_attempts() != s.connection) {
      if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        if (errno != EEXIST || ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev) != 0) {
          throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
        }
      }
      s.fd = fd;
      s.connection = m.connection_attempts();
      s.events = want;
      s.misc_at = SteadyClock::now() + misc_interval(m.keepalive_s());
    } else if (want != s.events) {
      if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev) != 0) {
        throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
      }
      s.events = want;
    }
  }

  const std::vector<PolledClient*>& clients_;
  std::vector<Slot> slots_;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> heap_;
  std::size_t finished_ = 0;
  SteadyClock::time_point next_sweep_{};
  int epoll_ = -1;
};

}  // namespace

std::chrono::milliseconds misc_interval(int keepalive_s) {
  // A quarter of the keepalive, between 1 s and 5 s: a PINGREQ goes out at most 5 s after it is
  // due, well inside the broker's 1.5 x keepalive.
  const auto quarter = std::chrono::milliseconds(std::max(0, keepalive_s) * 250);
  return std::clamp(quarter, std::chrono::milliseconds(1000), std::chrono::milliseconds(5000));
}

void run_poll_loop(const std::vector<PolledClient*>& clients,
                   const std::function<bool(SteadyClock::time_point)>& per_iteration) {
  Loop loop(clients);
  loop.run(per_iteration);
}

}  // namespace sp::sim
