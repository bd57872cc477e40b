#include "smartproduct/identity/mail_outbox.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "smartproduct/core/logging.hpp"

namespace sp::identity {

AccountMailWorker::AccountMailWorker(store::AccountMailOutbox& outbox, IdentityService& identity,
                                     CodeMailer& mailer, EpochClock clock)
    : outbox_(outbox), identity_(identity), mailer_(mailer), clock_(std::move(clock)) {}

AccountMailWorker::~AccountMailWorker() { stop(); }

Result<void> AccountMailWorker::queue(std::string_view kind, std::string_view email,
                                      std::string_view request_id) {
  store::AccountMail mail;
  mail.kind = std::string(kind);
  mail.email = std::string(email);
  mail.request_id = std::string(request_id.substr(0, logging::kMaxRequestIdBytes));
  mail.created_at = clock_();
  auto id = outbox_.enqueue(mail);
  if (!id) return tl::unexpected(id.error());
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
  return {};
}

std::int64_t AccountMailWorker::retry_delay_s(int attempts) {
  std::int64_t delay = kFirstRetryS;
  for (int i = 1; i < attempts && delay < kMaxRetryS; ++i) delay *= 2;
  return std::min(delay, kMaxRetryS);
}

bool AccountMailWorker::deliver(const store::AccountMail& mail) {
  CodeKind kind = CodeKind::kVerification;
  std::optional<std::string> code;
  if (mail.kind == kMailSignUpExisting) {
    auto send = identity_.sign_up_notice_allowed(mail.email);
    if (!send) return false;
    if (!*send) return true;
    kind = CodeKind::kSignUpExisting;
    code = std::string();
  } else if (mail.kind == kMailVerify || mail.kind == kMailReset) {
    const bool verify = mail.kind == kMailVerify;
    kind = verify ? CodeKind::kVerification : CodeKind::kPasswordReset;
    auto issued = identity_.issue_code(
        verify ? CodePurpose::kVerifyEmail : CodePurpose::kResetPassword, mail.email);
    if (!issued) return false;
    code = std::move(*issued);
    if (!code) return true;  // no such account, disabled, or already verified: nothing to send
  } else {
    spdlog::warn("identity: account mail of unknown kind '{}' dropped", mail.kind);
    return true;
  }
  // A retry issues a fresh code (it replaces the one whose mail failed): codes are never kept in
  // clear to be sent again.
  return mailer_.send_code(kind, mail.email, *code).has_value();
}

int AccountMailWorker::send_due() {
  auto rows = outbox_.due(clock_(), 32);
  if (!rows) {
    spdlog::error("identity: reading the account mail outbox failed: {}", rows.error().detail);
    return 0;
  }
  for (const auto& mail : *rows) {
    logging::RequestIdScope scope(mail.request_id);
    if (deliver(mail)) {
      (void)outbox_.remove(mail.id);
    } else if (mail.attempts + 1 >= kMaxAttempts) {
      spdlog::error("identity: account mail {} ({}) given up after {} attempts", mail.id, mail.kind,
                    mail.attempts + 1);
      (void)outbox_.remove(mail.id);
    } else {
      (void)outbox_.retry_at(mail.id, clock_() + retry_delay_s(mail.attempts + 1));
    }
  }
  return static_cast<int>(rows->size());
}

void AccountMailWorker::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  wake_ = true;  // rows left from before a restart
  thread_ = std::thread([this] { run(); });
}

void AccountMailWorker::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void AccountMailWorker::run() {
  for (;;) {
    // Wake for a new row, or when the next retry is due (checked at least every 5 s).
    std::chrono::seconds wait{5};
    if (auto next = outbox_.next_due(); next && *next) {
      wait = std::chrono::seconds(std::clamp<std::int64_t>(**next - clock_(), 0, 5));
    }
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, wait, [this] { return wake_ || stopping_; });
      if (stopping_) return;
      wake_ = false;
    }
    // Keep going while full batches come back.
    while (send_due() == 32) {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
  }
}

}  // namespace sp::identity
