#include "api_client.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace sp::sim {

using nlohmann::json;

namespace {

std::once_flag g_curl_init;

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

}  // namespace

std::string api_error_text(const std::string& body) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_object()) {
    for (const char* key : {"message", "error"}) {
      if (auto it = doc.find(key); it != doc.end() && it->is_string())
        return it->get<std::string>();
    }
  }
  auto text = body.substr(0, 300);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

struct ApiClient::Impl {
  std::string base_url;
  std::string cafile;
  std::string token;
  CURL* curl = nullptr;
};

ApiClient::ApiClient(std::string base_url, std::string cafile) : impl_(std::make_unique<Impl>()) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  impl_->base_url = std::move(base_url);
  impl_->cafile = std::move(cafile);
  impl_->curl = curl_easy_init();
  if (!impl_->curl) throw std::runtime_error("curl_easy_init failed");
}

ApiClient::~ApiClient() {
  if (impl_ && impl_->curl) curl_easy_cleanup(impl_->curl);
}

HttpReply ApiClient::request(const std::string& method, const std::string& path,
                             const std::string& body) {
  CURL* c = impl_->curl;
  curl_easy_reset(c);
  HttpReply reply;
  char error[CURL_ERROR_SIZE] = {0};
  const std::string url = impl_->base_url + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  // Only the instance's root CA: the system store must not vouch for this server.
  curl_easy_setopt(c, CURLOPT_CAINFO, impl_->cafile.c_str());
  curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  std::string auth;
  if (!impl_->token.empty()) {
    auth = "Authorization: Bearer " + impl_->token;
    headers = curl_slist_append(headers, auth.c_str());
  }
  if (!body.empty()) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    reply.error = fmt::format("{} {}: {}", method, url, error[0] ? error : curl_easy_strerror(rc));
    return reply;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

void ApiClient::login(const std::string& email, const std::string& password) {
  const auto reply =
      request("POST", "/api/auth/login", json{{"email", email}, {"password", password}}.dump());
  if (!reply.error.empty()) throw std::runtime_error("sign-in failed: " + reply.error);
  if (reply.status != 200) {
    throw std::runtime_error(fmt::format("sign-in as {} refused ({}): {}", email, reply.status,
                                         api_error_text(reply.body)));
  }
  const json doc = json::parse(reply.body, nullptr, false);
  if (!doc.is_object() || !doc.contains("accessToken") || !doc["accessToken"].is_string()) {
    throw std::runtime_error("sign-in answer has no accessToken");
  }
  impl_->token = doc["accessToken"].get<std::string>();
}

RegisterOutcome ApiClient::register_device(const std::string& serial, const std::string& name,
                                           const std::string& model) {
  const auto reply =
      request("POST", "/api/registration",
              json{{"deviceId", serial}, {"deviceName", name}, {"modelNumber", model}}.dump());
  if (!reply.error.empty()) throw std::runtime_error("registration failed: " + reply.error);
  switch (reply.status) {
    case 200:
    case 201:
      return RegisterOutcome::kRegistered;
    case 409:
      return RegisterOutcome::kAlreadyRegistered;
    case 404:
      throw std::runtime_error(
          fmt::format("{} (model {}) is not in the reference catalog: import the serials first "
                      "(smartproductctl catalog import FILE); the simulator does not ({})",
                      serial, model, api_error_text(reply.body)));
    default:
      throw std::runtime_error(fmt::format("registering {} failed ({}): {}", serial, reply.status,
                                           api_error_text(reply.body)));
  }
}

}  // namespace sp::sim
