#include "smartproduct/core/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
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

// Appends the syslog priority of `level` as "<N>" (sd-daemon(3) convention).
void append_syslog_priority(spdlog::level::level_enum level, spdlog::memory_buf_t& dest) {
  int priority = 6;
  switch (level) {
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

class SyslogPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    append_syslog_priority(msg.level, dest);
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

// Length (2-4) of the valid UTF-8 sequence starting with the non-ASCII byte s[i], or 0 when the
// bytes there are not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char lead = b(0);
  std::size_t n = 0;
  unsigned char min2 = 0x80, max2 = 0xBF;  // the range of the second byte (overlongs, surrogates)
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    if (lead == 0xE0) min2 = 0xA0;
    if (lead == 0xED) max2 = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    if (lead == 0xF0) min2 = 0x90;
    if (lead == 0xF4) max2 = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || b(1) < min2 || b(1) > max2) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else if (c >= 0x80) {
      const std::size_t n = utf8_sequence(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
        continue;
      }
      out.append(s.substr(i, n));
      i += n;
      continue;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

// One JSON object per line (json_log_line); "<N>" in front for journald, which strips it.
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(bool syslog_priority) : syslog_priority_(syslog_priority) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    if (syslog_priority_) append_syslog_priority(msg.level, dest);
    const auto level = spdlog::level::to_string_view(msg.level);
    const std::string line =
        json_log_line(msg.time, std::string_view(level.data(), level.size()),
                      std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                      std::string_view(msg.payload.data(), msg.payload.size()), request_id());
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(syslog_priority_);
  }

 private:
  bool syslog_priority_;
};

}  // namespace

std::string json_log_line(std::chrono::system_clock::time_point ts, std::string_view level,
                          std::string_view logger, std::string_view message,
                          std::string_view request_id) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch());
  const std::time_t seconds =
      static_cast<std::time_t>(std::chrono::floor<std::chrono::seconds>(ms).count());
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[40];
  const std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out;
  out.reserve(96 + message.size());
  out += "{\"ts\":\"";
  out.append(stamp, n);
  const auto millis = static_cast<int>(ms.count() - std::int64_t{seconds} * 1000);
  out += '.';
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += "Z\",\"level\":";
  append_json_string(out, level);
  out += ",\"logger\":";
  append_json_string(out, logger);
  out += ",\"msg\":";
  append_json_string(out, message);
  if (!request_id.empty()) {
    out += ",\"req\":";
    append_json_string(out, request_id);
  }
  out += '}';
  return out;
}

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

void setup(std::string_view sink, std::string_view level, std::string_view format) {
  bool journald =
      sink == "journald" || (sink == "auto" && std::getenv("JOURNAL_STREAM") != nullptr);
  auto logger = std::make_shared<spdlog::logger>("smartproductd",
                                                 std::make_shared<spdlog::sinks::stdout_sink_mt>());
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>(journald));
  } else {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<RequestIdFlag>('&');
    if (journald) {
      // journald reads "<N>" syslog priorities at the start of each line and stamps the time.
      formatter->add_flag<SyslogPriorityFlag>('*').set_pattern("%*[%n] %&%v");
    } else {
      formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %-5l [%n] %&%v");
    }
    logger->set_formatter(std::move(formatter));
  }
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
