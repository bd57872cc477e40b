#include "app/metrics.hpp"

#include <fmt/format.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cmath>

#include "smartproduct/http/errors.hpp"

namespace sp::app {

std::string render_prometheus(const std::vector<MetricSample>& unordered) {
  // The text format wants the samples of one family together; keep each family's own order.
  std::vector<MetricSample> samples = unordered;
  std::stable_sort(samples.begin(), samples.end(),
                   [](const MetricSample& a, const MetricSample& b) { return a.name < b.name; });
  std::string out;
  std::string last;
  for (const auto& s : samples) {
    if (s.name != last) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", s.name, s.help, s.name, s.type);
      last = s.name;
    }
    std::string value = std::floor(s.value) == s.value && std::fabs(s.value) < 1e15
                            ? fmt::format("{}", static_cast<int64_t>(s.value))
                            : fmt::format("{}", s.value);
    if (s.labels.empty()) {
      out += fmt::format("{} {}\n", s.name, value);
    } else {
      out += fmt::format("{}{{{}}} {}\n", s.name, s.labels, value);
    }
  }
  return out;
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
