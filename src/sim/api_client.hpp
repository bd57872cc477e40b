#pragma once
// The few REST calls the simulator makes for a demo (`run --register-as`): sign in and register
// devices. libcurl over HTTPS with the instance's root CA as the only trust anchor (only
// src/net/http may use Beast).

#include <memory>
#include <string>

namespace sp::sim {

/// Status and body of one HTTP exchange (status 0 = no response; `error` says why).
struct HttpReply {
  long status = 0;
  std::string body;
  std::string error;
};

/// Outcome of registering one device.
enum class RegisterOutcome { kRegistered, kAlreadyRegistered };

/// A signed-in API session. Reuses one connection (keep-alive) for all calls. Not thread-safe.
class ApiClient {
 public:
  /// `base_url` like "https://localhost:8443"; `cafile` the PEM that must have signed the server
  /// certificate.
  ApiClient(std::string base_url, std::string cafile);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  /// POST /api/auth/login; keeps the access token. Throws std::runtime_error with the server's
  /// message on failure.
  void login(const std::string& email, const std::string& password);

  /// POST /api/registration {deviceId, deviceName, modelNumber}. 409 (already registered) is not
  /// an error. Throws std::runtime_error on anything else, naming the serial (404: not in the
  /// catalog).
  RegisterOutcome register_device(const std::string& serial, const std::string& name,
                                  const std::string& model);

  /// One request with the session's token (if any) and a JSON body (may be empty).
  HttpReply request(const std::string& method, const std::string& path, const std::string& body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The "message" (or "error") of a JSON error body, else the body itself, trimmed.
std::string api_error_text(const std::string& body);

}  // namespace sp::sim
