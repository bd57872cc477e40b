#include "smartproduct/core/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

namespace sp::logging {
namespace {

// A fixed buffer rather than a std::string: setting the id must not allocate on the request path,
// and thread_local objects with destructors cost a registration per thread.
thread_local char t_request_id[kMaxRequestIdBytes];
thread_local std::size_t t_request_id_size = 0;

std::optional<spdlog::level::level_enum> parse_level(std::string_view level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  return std::nullopt;
}

// Writes the syslog priority of the message's level as "<N>" (sd-daemon(3) convention).
class SyslogPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    int priority = 6;
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        priority = 7;
        break;
      case spdlog::level::info:
        priority = 6;
        break;
      case spdlog::level::warn:
        priority = 4;
        break;
      case spdlog::level::err:
        priority = 3;
        break;
      case spdlog::level::critical:
        priority = 2;
        break;
      default:
        break;
    }
    const char text[3] = {'<', static_cast<char>('0' + priority), '>'};
    dest.append(text, text + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

// Writes "req=<id> " when the logging thread is handling a request, nothing otherwise. spdlog
// formats on the calling thread (synchronous sinks), so the thread-local is the caller's.
class RequestIdFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (t_request_id_size == 0) return;
    constexpr std::string_view kPrefix = "req=";
    dest.append(kPrefix.data(), kPrefix.data() + kPrefix.size());
    dest.append(t_request_id, t_request_id + t_request_id_size);
    dest.push_back(' ');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<RequestIdFlag>();
  }
};

}  // namespace

std::string_view request_id() { return {t_request_id, t_request_id_size}; }

RequestIdScope::RequestIdScope(std::string_view id) noexcept : previous_size_(t_request_id_size) {
  if (previous_size_ > 0) std::memcpy(previous_, t_request_id, previous_size_);
  t_request_id_size = std::min(id.size(), kMaxRequestIdBytes);
  if (t_request_id_size > 0) std::memcpy(t_request_id, id.data(), t_request_id_size);
}

RequestIdScope::~RequestIdScope() {
  if (previous_size_ > 0) std::memcpy(t_request_id, previous_, previous_size_);
  t_request_id_size = previous_size_;
}

bool is_valid_level(std::string_view level) { return parse_level(level).has_value(); }

void setup(std::string_view sink, std::string_view level) {
  bool journald =
      sink == "journald" || (sink == "auto" && std::getenv("JOURNAL_STREAM") != nullptr);
  auto logger = std::make_shared<spdlog::logger>("smartproductd",
                                                 std::make_shared<spdlog::sinks::stdout_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<RequestIdFlag>('&');
  if (journald) {
    // journald reads "<N>" syslog priorities at the start of each line and stamps the time itself.
    formatter->add_flag<SyslogPriorityFlag>('*').set_pattern("%*[%n] %&%v");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %-5l [%n] %&%v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(parse_level(level).value_or(spdlog::level::info));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

bool set_level(std::string_view level) {
  auto parsed = parse_level(level);
  if (!parsed) return false;
  spdlog::set_level(*parsed);
  return true;
}

}  // namespace sp::logging
