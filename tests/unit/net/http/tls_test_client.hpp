#pragma once
// A small blocking HTTPS/1.1 client over raw OpenSSL for the server tests (no Beast: keeps the test
// binary cheap to build, and it is independent of the code under test).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sp::http::testing {

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  /// Transfer-Encoding: chunked: the chunks as received, and whether the terminating chunk came
  /// (false: the connection ended mid-body; `body` holds what arrived).
  std::vector<std::string> chunks;
  bool complete = true;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct TlsOptions {
  int min_version = 0;  // e.g. TLS1_1_VERSION; 0 = library default
  int max_version = 0;
  bool legacy = false;  // security level 0 so that the client itself allows TLS 1.0/1.1
  std::chrono::milliseconds timeout{5000};
};

class TlsClient {
 public:
  /// Connects to 127.0.0.1:port and completes the handshake. Returns null on failure and puts
  /// the OpenSSL error reason (ERR_GET_REASON) into *reason when given.
  static std::unique_ptr<TlsClient> connect(std::uint16_t port, TlsOptions options = {},
                                            int* reason = nullptr);
  ~TlsClient();

  bool send(std::string_view bytes);
  /// Reads one response; for a HEAD request pass head=true (no body follows the header).
  std::optional<ClientResponse> read_response(bool head = false);
  /// True when the server closed the connection (read returns EOF or an error before timeout).
  bool wait_closed(std::chrono::milliseconds timeout);
  /// Subject CN of the server certificate.
  std::string peer_common_name() const;

  std::optional<ClientResponse> request(std::string_view method, std::string_view target,
                                        std::string_view extra_headers = {},
                                        std::string_view body = {});

 private:
  TlsClient() = default;
  int read_some(char* out, int size);
  bool read_chunked(ClientResponse& response);

  int fd_ = -1;
  void* ctx_ = nullptr;  // SSL_CTX*
  void* ssl_ = nullptr;  // SSL*
  std::string buffer_;
};

}  // namespace sp::http::testing
