#pragma once
// Delivery of one-time codes. With an SMTP URL the code is mailed (libcurl); without one
// (development) it is written to the daemon log as "verification code for <email>: <code>" or
// "password reset code for <email>: <code>" (and "sign-up attempt notice for <email>"), which the
// tests and the console walkthrough read.

#include <memory>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"

namespace sp::identity {

/// kSignUpExisting: no code; tells the owner of an address that someone tried to sign up with it
/// (signup answers the same whether or not the account exists, so the owner learns it here).
enum class CodeKind { kVerification, kPasswordReset, kSignUpExisting };

struct MailerConfig {
  std::string smtp_url;  // smtp://host:port or smtps://host:port; empty: log the codes
  std::string from;      // "Name <address>" or "address"
  std::string username;
  std::string password;
  bool require_tls = true;
  std::string public_url;  // the console's address, quoted in the text when set
  long timeout_s = 20;
};

class CodeMailer {
 public:
  virtual ~CodeMailer() = default;
  /// Sends `code` to `email` (a normalized address). Blocking (SMTP round trips); call it from a
  /// worker thread. Errors are kUnavailable "MailDeliveryFailed" (detail: the libcurl error).
  virtual Result<void> send_code(CodeKind kind, std::string_view email, std::string_view code) = 0;
};

/// The SMTP mailer when config.smtp_url is set, else the log mailer.
std::unique_ptr<CodeMailer> make_code_mailer(const MailerConfig& config);

/// Sends one plain-text message (UTF-8, "\n" or "\r\n" line ends) to `to` through
/// config.smtp_url. Blocking; call it from a worker thread. Used by the notifications module.
/// kUnavailable "MailDeliveryFailed" when smtp_url is empty or the server refused (detail: why).
/// Neither the address nor the text is logged.
Result<void> send_mail(const MailerConfig& config, std::string_view to, std::string_view subject,
                       std::string_view body);

/// The RFC 5322 message send_mail() sends (bare "\n" become CRLF). Exposed for tests.
std::string compose_message(const MailerConfig& config, std::string_view to,
                            std::string_view subject, std::string_view body,
                            std::string_view date_rfc5322);

/// Builds the RFC 5322 message (headers + body, CRLF line ends) the SMTP mailer sends. Exposed for
/// tests.
std::string compose_code_message(const MailerConfig& config, CodeKind kind, std::string_view email,
                                 std::string_view code, std::string_view date_rfc5322);

}  // namespace sp::identity
