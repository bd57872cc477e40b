#include "tls_test_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>

namespace sp::http::testing {
namespace {

SSL* as_ssl(void* p) { return static_cast<SSL*>(p); }

void set_timeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

std::unique_ptr<TlsClient> TlsClient::connect(std::uint16_t port, TlsOptions options, int* reason) {
  // Writing to a connection the server closed must fail, not kill the test binary.
  static const bool sigpipe_ignored = [] { return std::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)sigpipe_ignored;
  std::unique_ptr<TlsClient> client(new TlsClient());
  client->fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (client->fd_ < 0) return nullptr;
  set_timeout(client->fd_, options.timeout);
  int one = 1;
  setsockopt(client->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(client->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return nullptr;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  client->ctx_ = ctx;
  // The test certificate is self-signed: verification is not what these tests are about.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (options.legacy) {
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
  }
  if (options.min_version) SSL_CTX_set_min_proto_version(ctx, options.min_version);
  if (options.max_version) SSL_CTX_set_max_proto_version(ctx, options.max_version);
  SSL* ssl = SSL_new(ctx);
  client->ssl_ = ssl;
  SSL_set_fd(ssl, client->fd_);
  SSL_set_tlsext_host_name(ssl, "localhost");
  ERR_clear_error();
  if (SSL_connect(ssl) != 1) {
    if (reason) *reason = ERR_GET_REASON(ERR_peek_last_error());
    return nullptr;
  }
  return client;
}

TlsClient::~TlsClient() {
  if (ssl_) SSL_free(as_ssl(ssl_));
  if (ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
  if (fd_ >= 0) ::close(fd_);
}

bool TlsClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    int n = SSL_write(as_ssl(ssl_), bytes.data(), static_cast<int>(bytes.size()));
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int TlsClient::read_some(char* out, int size) { return SSL_read(as_ssl(ssl_), out, size); }

std::optional<ClientResponse> TlsClient::read_response(bool head) {
  char chunk[16384];
  size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    int n = read_some(chunk, sizeof chunk);
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<size_t>(n));
  }
  ClientResponse response;
  std::string head_text = buffer_.substr(0, header_end);
  buffer_.erase(0, header_end + 4);
  size_t line_end = head_text.find("\r\n");
  std::string status_line = head_text.substr(0, line_end);
  if (status_line.size() < 12 || status_line.rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
  response.status = std::stoi(status_line.substr(9, 3));
  size_t pos = line_end == std::string::npos ? head_text.size() : line_end + 2;
  while (pos < head_text.size()) {
    size_t end = head_text.find("\r\n", pos);
    if (end == std::string::npos) end = head_text.size();
    std::string line = head_text.substr(pos, end - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      response.headers[name] = value;
    }
    pos = end + 2;
  }
  if (!head && response.headers["transfer-encoding"] == "chunked") {
    if (!read_chunked(response)) response.complete = false;
    return response;
  }
  size_t length = 0;
  if (!head && response.headers.count("content-length")) {
    length = std::stoul(response.headers["content-length"]);
  }
  while (buffer_.size() < length) {
    int n = read_some(chunk, sizeof chunk);
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<size_t>(n));
  }
  response.body = buffer_.substr(0, length);
  buffer_.erase(0, length);
  return response;
}

bool TlsClient::read_chunked(ClientResponse& response) {
  char chunk[16384];
  auto fill = [&](size_t want) {
    while (buffer_.size() < want) {
      int n = read_some(chunk, sizeof chunk);
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    return true;
  };
  auto line = [&](std::string& out) {
    size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      if (!fill(buffer_.size() + 1)) return false;
    }
    out = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    return true;
  };
  for (;;) {
    std::string size_line;
    if (!line(size_line)) return false;
    const size_t size = std::stoul(size_line.substr(0, size_line.find(';')), nullptr, 16);
    if (size == 0) {
      std::string trailer;
      do {
        if (!line(trailer)) return false;
      } while (!trailer.empty());
      return true;
    }
    if (!fill(size + 2) || buffer_.compare(size, 2, "\r\n") != 0) return false;
    response.chunks.push_back(buffer_.substr(0, size));
    response.body += response.chunks.back();
    buffer_.erase(0, size + 2);
  }
}

bool TlsClient::wait_closed(std::chrono::milliseconds timeout) {
  set_timeout(fd_, timeout);
  char chunk[1024];
  for (;;) {
    errno = 0;
    int n = read_some(chunk, sizeof chunk);
    if (n > 0) continue;  // drain anything the server still sends
    int err = SSL_get_error(as_ssl(ssl_), n);
    // A receive timeout shows up as a syscall error with EAGAIN: the connection is still open.
    if (err == SSL_ERROR_WANT_READ) return false;
    if (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    return true;
  }
}

std::string TlsClient::peer_common_name() const {
  X509* cert = SSL_get1_peer_certificate(as_ssl(ssl_));
  if (!cert) return {};
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof name);
  X509_free(cert);
  return name;
}

std::optional<ClientResponse> TlsClient::request(std::string_view method, std::string_view target,
                                                 std::string_view extra_headers,
                                                 std::string_view body) {
  std::string text;
  text.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: localhost\r\n");
  text.append(extra_headers);
  if (!body.empty() || method == "POST" || method == "PUT") {
    text.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  text.append("\r\n").append(body);
  if (!send(text)) return std::nullopt;
  return read_response(method == "HEAD");
}

}  // namespace sp::http::testing
