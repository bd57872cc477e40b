#include "https_probe.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <cctype>
#include <mutex>
#include <string_view>

namespace sp::cli {
namespace {

std::once_flag g_curl_init;

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// Keeps the Date header of the (last) response.
std::size_t keep_date(char* data, std::size_t size, std::size_t count, void* out) {
  std::string_view line(data, size * count);
  constexpr std::string_view kName = "date:";
  if (line.size() > kName.size()) {
    std::string head(line.substr(0, kName.size()));
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head == kName) {
      auto value = line.substr(kName.size());
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n'))
        value.remove_suffix(1);
      *static_cast<std::string*>(out) = std::string(value);
    }
  }
  return size * count;
}

}  // namespace

std::string local_address_for(const std::string& listen) {
  if (listen.empty() || listen == "0.0.0.0") return "127.0.0.1";
  if (listen == "::" || listen == "[::]") return "::1";
  return listen;
}

struct HttpsProbe::Impl {
  std::string base_url;
  std::string connect_to;
  std::string cafile;
  std::string authorization;
  long timeout_ms = 5000;
  CURL* curl = nullptr;
};

HttpsProbe::HttpsProbe(std::string address, std::uint16_t port, std::string cafile,
                       std::string bearer, long timeout_ms)
    : impl_(std::make_unique<Impl>()) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const bool v6 = address.find(':') != std::string::npos;
  impl_->base_url = fmt::format("https://localhost:{}", port);
  impl_->connect_to =
      fmt::format("localhost:{}:{}:{}", port, v6 ? "[" + address + "]" : address, port);
  impl_->cafile = std::move(cafile);
  if (!bearer.empty()) impl_->authorization = "Authorization: Bearer " + bearer;
  impl_->timeout_ms = timeout_ms;
  impl_->curl = curl_easy_init();
}

HttpsProbe::~HttpsProbe() {
  if (impl_->curl) curl_easy_cleanup(impl_->curl);
}

const std::string& HttpsProbe::base_url() const { return impl_->base_url; }

ProbeReply HttpsProbe::get(const std::string& path) {
  ProbeReply reply;
  CURL* c = impl_->curl;
  if (!c) {
    reply.error = "curl_easy_init failed";
    return reply;
  }
  curl_easy_reset(c);
  char error[CURL_ERROR_SIZE] = {0};
  const std::string url = impl_->base_url + path;
  curl_slist* connect_to = curl_slist_append(nullptr, impl_->connect_to.c_str());
  curl_slist* headers = nullptr;
  if (!impl_->authorization.empty()) {
    headers = curl_slist_append(headers, impl_->authorization.c_str());
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  // The daemon is on this host: an https_proxy from the environment must not carry the request.
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_CAINFO, impl_->cafile.c_str());
  curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, impl_->timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &keep_date);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply.date);
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  curl_slist_free_all(connect_to);
  if (rc != CURLE_OK) {
    reply.error = fmt::format("GET {}: {}", url, error[0] ? error : curl_easy_strerror(rc));
    return reply;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

}  // namespace sp::cli
