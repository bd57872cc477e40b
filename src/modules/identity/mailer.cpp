#include "smartproduct/identity/mailer.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <ctime>
#include <mutex>

namespace sp::identity {
namespace {

std::string subject_of(CodeKind kind) {
  switch (kind) {
    case CodeKind::kVerification:
      return "Your smartproduct verification code";
    case CodeKind::kPasswordReset:
      return "Your smartproduct password reset code";
    case CodeKind::kSignUpExisting:
      break;
  }
  return "Someone tried to sign up with your address";
}

const char* kind_name(CodeKind kind) {
  switch (kind) {
    case CodeKind::kVerification:
      return "verification";
    case CodeKind::kPasswordReset:
      return "password reset";
    case CodeKind::kSignUpExisting:
      break;
  }
  return "sign-up attempt notice";
}

std::string rfc5322_now() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

// The bare address of "Name <addr>" (or the whole value), for MAIL FROM.
std::string envelope_address(const std::string& from) {
  const auto lt = from.find('<');
  const auto gt = from.find('>', lt == std::string::npos ? 0 : lt);
  if (lt != std::string::npos && gt != std::string::npos) return from.substr(lt + 1, gt - lt - 1);
  return from;
}

class LogMailer final : public CodeMailer {
 public:
  Result<void> send_code(CodeKind kind, std::string_view email, std::string_view code) override {
    // Development only (no smtp_url): the operator reads codes from the log. The startup warning
    // says so; production configs set smtp_url and never reach this.
    if (kind == CodeKind::kSignUpExisting) {
      spdlog::info("sign-up attempt notice for {}", email);
    } else {
      spdlog::info("{} code for {}: {}", kind_name(kind), email, code);
    }
    return {};
  }
};

struct Upload {
  const std::string* data;
  std::size_t offset = 0;
};

std::size_t read_cb(char* buffer, std::size_t size, std::size_t nitems, void* user) {
  auto* up = static_cast<Upload*>(user);
  const std::size_t room = size * nitems;
  const std::size_t left = up->data->size() - up->offset;
  const std::size_t n = left < room ? left : room;
  std::memcpy(buffer, up->data->data() + up->offset, n);
  up->offset += n;
  return n;
}

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One SMTP transaction carrying `message` (headers + body) to `to`.
Result<void> smtp_send(const MailerConfig& config, std::string_view to,
                       const std::string& message) {
  curl_init_once();
  CURL* curl = curl_easy_init();
  if (!curl) return fail(ErrorKind::kUnavailable, "MailDeliveryFailed", "Cannot send email.");
  char errbuf[CURL_ERROR_SIZE] = {};
  Upload up{&message};
  const std::string rcpt_addr(to);
  curl_slist* rcpt = curl_slist_append(nullptr, rcpt_addr.c_str());
  const std::string from = envelope_address(config.from);
  curl_easy_setopt(curl, CURLOPT_URL, config.smtp_url.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt(curl, CURLOPT_READDATA, &up);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, config.timeout_s);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (config.require_tls)
    curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!config.username.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, config.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, config.password.c_str());
  }
  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    const std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    return fail(ErrorKind::kUnavailable, "MailDeliveryFailed", "The email could not be sent.", why);
  }
  return {};
}

class SmtpMailer final : public CodeMailer {
 public:
  explicit SmtpMailer(MailerConfig config) : config_(std::move(config)) { curl_init_once(); }

  Result<void> send_code(CodeKind kind, std::string_view email, std::string_view code) override {
    const std::string message = compose_code_message(config_, kind, email, code, rfc5322_now());
    auto r = smtp_send(config_, email, message);
    if (!r) {
      // The address is personal data and the code a secret: the log names neither.
      spdlog::error("mail: sending a {} mail failed: {}", kind_name(kind), r.error().detail);
    }
    return r;
  }

 private:
  MailerConfig config_;
};

}  // namespace

std::string compose_code_message(const MailerConfig& config, CodeKind kind, std::string_view email,
                                 std::string_view code, std::string_view date_rfc5322) {
  const bool verify = kind == CodeKind::kVerification;
  std::string body;
  if (kind == CodeKind::kSignUpExisting) {
    body +=
        "Someone tried to create a smartproduct account with this email address, which already "
        "has one.\r\n\r\nIf it was you, sign in, or reset your password if you forgot it. If it "
        "was not you, ignore this message: nothing was changed.\r\n";
  } else {
    body += verify ? "Welcome to smartproduct.\r\n\r\nYour verification code is: "
                   : "Someone asked to reset the password of your smartproduct account.\r\n\r\n"
                     "Your reset code is: ";
    body += std::string(code) + "\r\n\r\n";
    body += verify ? "Enter it on the verification page to activate your account.\r\n"
                   : "It is valid for a short time. If you did not ask for it, ignore this "
                     "message; your password stays unchanged.\r\n";
  }
  if (!config.public_url.empty()) body += "\r\n" + config.public_url + "\r\n";
  std::string msg;
  msg += "Date: " + std::string(date_rfc5322) + "\r\n";
  msg += "From: " + config.from + "\r\n";
  msg += "To: <" + std::string(email) + ">\r\n";
  msg += "Subject: " + subject_of(kind) + "\r\n";
  msg += "MIME-Version: 1.0\r\n";
  msg += "Content-Type: text/plain; charset=utf-8\r\n";
  msg += "Content-Transfer-Encoding: 8bit\r\n";
  msg += "\r\n" + body;
  return msg;
}

std::string compose_message(const MailerConfig& config, std::string_view to,
                            std::string_view subject, std::string_view body,
                            std::string_view date_rfc5322) {
  std::string crlf;
  crlf.reserve(body.size() + 16);
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) crlf += '\r';
    crlf += body[i];
  }
  if (!crlf.ends_with("\r\n")) crlf += "\r\n";
  // Header values come from our own templates and validated fields; strip line breaks anyway so a
  // device-chosen name cannot add headers.
  std::string subj;
  for (char c : subject) subj += (c == '\r' || c == '\n') ? ' ' : c;
  std::string msg;
  msg += "Date: " + std::string(date_rfc5322) + "\r\n";
  msg += "From: " + config.from + "\r\n";
  msg += "To: <" + std::string(to) + ">\r\n";
  msg += "Subject: " + subj + "\r\n";
  msg += "MIME-Version: 1.0\r\n";
  msg += "Content-Type: text/plain; charset=utf-8\r\n";
  msg += "Content-Transfer-Encoding: 8bit\r\n";
  msg += "\r\n" + crlf;
  return msg;
}

Result<void> send_mail(const MailerConfig& config, std::string_view to, std::string_view subject,
                       std::string_view body) {
  if (config.smtp_url.empty()) {
    return fail(ErrorKind::kUnavailable, "MailDeliveryFailed", "No SMTP server is configured.",
                "[identity] smtp_url is empty");
  }
  return smtp_send(config, to, compose_message(config, to, subject, body, rfc5322_now()));
}

std::unique_ptr<CodeMailer> make_code_mailer(const MailerConfig& config) {
  if (config.smtp_url.empty()) return std::make_unique<LogMailer>();
  return std::make_unique<SmtpMailer>(config);
}

}  // namespace sp::identity
