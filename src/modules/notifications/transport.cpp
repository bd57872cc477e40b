#include "modules/notifications/transport.hpp"

#include <curl/curl.h>

#include "smartproduct/http/errors.hpp"

#include <ctime>
#include <mutex>
#include <string>

namespace sp::notifications {
namespace {

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

// One POST; success is a 2xx status. Redirects are not followed (a signed body must not wander).
Result<void> post(const TransportConfig& config, const std::string& url, curl_slist* headers,
                  const std::string& body, const char* what) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (!curl) return fail(errors::kChannelUnavailable, "curl init failed");
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, config.allow_http ? "http,https" : "https");
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, config.timeout_s);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "smartproduct-notifications/1");
  if (!config.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, config.ca_file.c_str());
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return fail(errors::kChannelUnavailable, std::string(what) + " failed",
                errbuf[0] ? errbuf : curl_easy_strerror(rc));
  }
  if (status < 200 || status > 299) {
    return fail(errors::kChannelUnavailable, std::string(what) + " refused",
                std::string(what) + " answered HTTP " + std::to_string(status));
  }
  return {};
}

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void add(const std::string& h) { list = curl_slist_append(list, h.c_str()); }
};

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(TransportConfig c) : config_(std::move(c)) {}

  bool email_available() const override {
    return config_.mail != nullptr && !config_.mail->smtp_url.empty();
  }
  bool sms_available() const override { return !config_.sms.url.empty(); }

  Result<void> email(std::string_view to, std::string_view subject,
                     std::string_view body) override {
    if (!email_available()) {
      return fail(errors::kChannelUnavailable, "email is not configured");
    }
    return identity::send_mail(*config_.mail, to, subject, body);
  }

  Result<void> sms(std::string_view to, std::string_view text) override {
    if (!sms_available()) {
      return fail(errors::kChannelUnavailable, "SMS is not configured");
    }
    HeaderList h;
    h.add(config_.sms.format == "form" ? "Content-Type: application/x-www-form-urlencoded"
                                       : "Content-Type: application/json");
    if (!config_.sms.auth_header.empty()) h.add(config_.sms.auth_header);
    const std::string body =
        render_sms_body(config_.sms.body_template, config_.sms.format, to, text);
    return post(config_, config_.sms.url, h.list, body, "the SMS gateway");
  }

  Result<void> webhook(std::string_view url, std::string_view secret, std::string_view delivery_id,
                       std::string_view body) override {
    const std::string ts = std::to_string(static_cast<long long>(std::time(nullptr)));
    HeaderList h;
    h.add("Content-Type: application/json");
    h.add("X-Smartproduct-Timestamp: " + ts);
    h.add("X-Smartproduct-Signature: " + webhook_signature(secret, ts, body));
    h.add("X-Smartproduct-Delivery: " + std::string(delivery_id));
    return post(config_, std::string(url), h.list, std::string(body), "the webhook");
  }

 private:
  TransportConfig config_;
};

}  // namespace

std::unique_ptr<Transport> make_curl_transport(TransportConfig config) {
  return std::make_unique<CurlTransport>(std::move(config));
}

}  // namespace sp::notifications
