#include "app/metrics.hpp"

#include <fmt/format.h>

#include <openssl/crypto.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "smartproduct/http/errors.hpp"

namespace sp::app {

namespace {

// Sample values: integers without a fraction, the special values as the text
// format spells them, everything else in the shortest form that reads back exactly.
std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::floor(v) == v && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

// HELP text: backslash and line feed escaped, so that a help string cannot end the line.
std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The family a sample belongs to: its name, or for a histogram's samples the name without
// _bucket, _sum or _count.
std::string_view family_of(const MetricSample& s) {
  std::string_view name = s.name;
  if (s.type != "histogram") return name;
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.ends_with(suffix)) return name.substr(0, name.size() - suffix.size());
  }
  return name;
}

}  // namespace

std::string render_prometheus(const std::vector<MetricSample>& unordered) {
  // The text format wants the samples of one family together; keep each family's own order (a
  // histogram's buckets, sum and count stay in the order add_histogram wrote them).
  std::vector<const MetricSample*> samples;
  samples.reserve(unordered.size());
  for (const auto& s : unordered) samples.push_back(&s);
  std::stable_sort(
      samples.begin(), samples.end(),
      [](const MetricSample* a, const MetricSample* b) { return family_of(*a) < family_of(*b); });
  std::string out;
  std::string_view last;
  for (const auto* s : samples) {
    const auto family = family_of(*s);
    if (family != last) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family, escape_help(s->help), family,
                         s->type);
      last = family;
    }
    out += s->name;
    if (!s->labels.empty()) {
      out += '{';
      out += s->labels;
      out += '}';
    }
    out += ' ';
    out += format_value(s->value);
    out += '\n';
  }
  return out;
}

std::optional<ProcStat> parse_proc_stat(std::string_view content) {
  // "pid (comm) state ppid ...": comm may contain anything, so fields count from the last ')'.
  const auto close = content.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state) of proc(5)
  std::size_t i = close + 1;
  while (i < content.size()) {
    while (i < content.size() && (content[i] == ' ' || content[i] == '\n')) ++i;
    const std::size_t start = i;
    while (i < content.size() && content[i] != ' ' && content[i] != '\n') ++i;
    if (i > start) fields.push_back(content.substr(start, i - start));
  }
  if (fields.size() < 22) return std::nullopt;
  auto number = [&](std::size_t proc5_field, std::uint64_t& into) {
    const auto f = fields[proc5_field - 3];
    return std::from_chars(f.data(), f.data() + f.size(), into).ec == std::errc{};
  };
  ProcStat st;
  if (!number(14, st.utime_ticks) || !number(15, st.stime_ticks) || !number(22, st.start_ticks) ||
      !number(23, st.vsize_bytes) || !number(24, st.rss_pages)) {
    return std::nullopt;
  }
  return st;
}

namespace {

std::optional<std::string> read_small_file(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The boot time from /proc/stat ("btime <epoch seconds>").
std::optional<std::uint64_t> boot_time_seconds() {
  auto stat = read_small_file("/proc/stat");
  if (!stat) return std::nullopt;
  const auto at = stat->find("\nbtime ");
  if (at == std::string::npos) return std::nullopt;
  std::uint64_t v = 0;
  const char* begin = stat->data() + at + 7;
  if (std::from_chars(begin, stat->data() + stat->size(), v).ec != std::errc{}) return std::nullopt;
  return v;
}

}  // namespace

void report_process_metrics(std::vector<MetricSample>& out) {
  const auto content = read_small_file("/proc/self/stat");
  const auto st = content ? parse_proc_stat(*content) : std::nullopt;
  if (st) {
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    add_counter(out, "process_cpu_seconds_total", "User and system CPU time spent, in seconds",
                static_cast<double>(st->utime_ticks + st->stime_ticks) / ticks);
    add_gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes",
              static_cast<double>(st->rss_pages) * page);
    add_gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes",
              static_cast<double>(st->vsize_bytes));
    // Boot time is read once: it does not change while the process runs.
    static const auto boot = boot_time_seconds();
    if (boot) {
      add_gauge(out, "process_start_time_seconds", "Start time of the process since the epoch",
                static_cast<double>(*boot) + static_cast<double>(st->start_ticks) / ticks);
    }
  }
  std::error_code ec;
  double open_fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++open_fds;
  }
  if (!ec) add_gauge(out, "process_open_fds", "Open file descriptors", open_fds);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    add_gauge(out, "process_max_fds", "Most file descriptors the process may open (soft limit)",
              limit.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(limit.rlim_cur));
  }
}

bool metrics_access_allowed(const config::MetricsSettings& access, const http::Request& request) {
  if (access.allow_loopback) {
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(request.remote_address, ec);
    if (!ec) {
      const bool loopback =
          address.is_loopback() ||
          (address.is_v6() && address.to_v6().is_v4_mapped() &&
           boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6())
               .is_loopback());
      if (loopback) return true;
    }
  }
  if (access.token.empty()) return false;
  const auto header = request.header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (!header || header->size() != kBearer.size() + access.token.size() ||
      header->substr(0, kBearer.size()) != kBearer) {
    return false;
  }
  // Constant time: the comparison must not tell a prober how much of the token it has right.
  return CRYPTO_memcmp(header->data() + kBearer.size(), access.token.data(), access.token.size()) ==
         0;
}

void add_metrics_route(http::Router& router, std::vector<MetricsSource> sources,
                       config::MetricsSettings access) {
  router.add("GET", "/metrics",
             [sources = std::move(sources), access = std::move(access)](http::Request& request) {
               if (!metrics_access_allowed(access, request)) {
                 auto denied = http::Response::error(errors::kUnauthorized,
                                                     "Metrics are served to loopback clients and, "
                                                     "with [metrics] token, to bearers of it.");
                 denied.set_header("www-authenticate", "Bearer realm=\"metrics\"");
                 return denied;
               }
               std::vector<MetricSample> samples;
               for (auto& source : sources) source(samples);
               http::Response r;
               r.status = 200;
               r.body = render_prometheus(samples);
               r.set_header("content-type", "text/plain; version=0.0.4; charset=utf-8");
               r.set_header("cache-control", "no-store");
               return r;
             });
}

}  // namespace sp::app
