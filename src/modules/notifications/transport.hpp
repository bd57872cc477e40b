#pragma once
// The real channels: SMTP through the identity module's mailer, the SMS gateway and webhooks over
// HTTP(S) with libcurl.

#include <filesystem>
#include <memory>

#include "smartproduct/identity/mailer.hpp"
#include "smartproduct/notifications/service.hpp"

namespace sp::notifications {

struct TransportConfig {
  const identity::MailerConfig* mail = nullptr;  // null or empty smtp_url: no email channel
  SmsGateway sms;
  long timeout_s = 15;
  std::filesystem::path ca_file;  // extra trust anchors for webhooks and the SMS gateway
  bool allow_http = false;        // plain-http webhook URLs (development, tests)
};

std::unique_ptr<Transport> make_curl_transport(TransportConfig config);

}  // namespace sp::notifications
