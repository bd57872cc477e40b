// The code email: headers, CRLF line ends, and that it carries the code.

#include <gtest/gtest.h>

#include "smartproduct/identity/mailer.hpp"

namespace sp::identity {
namespace {

TEST(ComposeCodeMessage, HasHeadersAndTheCode) {
  MailerConfig config;
  config.from = "smartproduct <no-reply@example.com>";
  config.public_url = "https://iot.example.com";
  const auto msg = compose_code_message(config, CodeKind::kVerification, "ann@example.com",
                                        "123456", "Mon, 01 Jan 2024 00:00:00 +0000");
  EXPECT_EQ(msg.rfind("Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n", 0), 0u);
  EXPECT_NE(msg.find("From: smartproduct <no-reply@example.com>\r\n"), std::string::npos);
  EXPECT_NE(msg.find("To: <ann@example.com>\r\n"), std::string::npos);
  EXPECT_NE(msg.find("Subject: Your smartproduct verification code\r\n"), std::string::npos);
  EXPECT_NE(msg.find("\r\n\r\n"), std::string::npos);
  EXPECT_NE(msg.find("123456"), std::string::npos);
  EXPECT_NE(msg.find("https://iot.example.com"), std::string::npos);
  // No bare LF anywhere (SMTP wants CRLF).
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\n') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ(msg[i - 1], '\r') << "bare LF at " << i;
    }
  }
  const auto reset = compose_code_message(config, CodeKind::kPasswordReset, "a@b.co", "999",
                                          "Mon, 01 Jan 2024 00:00:00 +0000");
  EXPECT_NE(reset.find("password reset"), std::string::npos);
}

TEST(ComposeMessage, CrlfBodyAndNoHeaderInjection) {
  MailerConfig config;
  config.from = "smartproduct <alerts@example.com>";
  const auto msg = compose_message(config, "bo@example.com", "Alert on a\r\nBcc: x@evil.example",
                                   "line 1\nline 2\r\n\nend", "Mon, 01 Jan 2024 00:00:00 +0000");
  EXPECT_NE(msg.find("Subject: Alert on a  Bcc: x@evil.example\r\n"), std::string::npos);
  EXPECT_EQ(msg.find("\r\nBcc:"), std::string::npos);
  EXPECT_NE(msg.find("\r\n\r\nline 1\r\nline 2\r\n\r\nend\r\n"), std::string::npos);
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\n') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ(msg[i - 1], '\r') << "bare LF at " << i;
    }
  }
}

TEST(SendMail, WithoutSmtpUrlFailsInsteadOfLogging) {
  auto r = send_mail(MailerConfig{}, "a@example.com", "s", "secret text");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "MailDeliveryFailed");
}

TEST(MakeCodeMailer, LogMailerWithoutSmtpUrlSucceeds) {
  auto mailer = make_code_mailer(MailerConfig{});
  ASSERT_TRUE(mailer);
  EXPECT_TRUE(mailer->send_code(CodeKind::kVerification, "a@example.com", "000000"));
}

TEST(MakeCodeMailer, UnreachableSmtpServerIsUnavailable) {
  MailerConfig config;
  config.smtp_url = "smtp://127.0.0.1:1";  // nothing listens on port 1
  config.from = "x@example.com";
  config.require_tls = false;
  config.timeout_s = 5;
  auto r = make_code_mailer(config)->send_code(CodeKind::kVerification, "a@example.com", "1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(r.error().name, "MailDeliveryFailed");
}

}  // namespace
}  // namespace sp::identity
