#pragma once
// GET requests to the instance's own daemon for `status` and `doctor`: HTTPS with the instance's
// root CA as the only trust anchor (the system store must not vouch for it), short timeouts, the
// Date header kept for the clock check. libcurl, as the simulator's API client: the CLI may not
// include Beast (tests/unit/layers).

#include <cstdint>
#include <memory>
#include <string>

namespace sp::cli {

struct ProbeReply {
  long status = 0;  ///< 0: no HTTP answer (`error` says why)
  std::string body;
  std::string date;  ///< the Date header, empty when absent
  std::string error;
};

class HttpsProbe {
 public:
  /// Connects to `address`:`port` (an IP address or host name) but verifies the certificate for
  /// "localhost", which every HTTPS certificate smartproductctl init issues covers.
  /// `bearer`: sent as Authorization when not empty ([metrics] token).
  HttpsProbe(std::string address, std::uint16_t port, std::string cafile, std::string bearer,
             long timeout_ms);
  ~HttpsProbe();
  HttpsProbe(const HttpsProbe&) = delete;
  HttpsProbe& operator=(const HttpsProbe&) = delete;

  ProbeReply get(const std::string& path);
  /// "https://localhost:8443" (what the reports show).
  const std::string& base_url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Where a client on this host reaches an HTTP listener bound to `listen`: the loopback address
/// of the family for a wildcard bind, else the address itself.
std::string local_address_for(const std::string& listen);

}  // namespace sp::cli
