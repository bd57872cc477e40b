#pragma once
// Account mail off the request path (issue 10, finding 3). Sign-up, resend and forgot queue one
// row in the persistent outbox (account_mail_outbox) and answer at once, the same way whether or
// not the account exists; this worker thread decides what to send, issues the code at send time
// (no code is stored in clear), mails it and deletes the row. A failed delivery is retried with
// exponential back-off (kMaxAttempts in all); rows left by a crash or a stop go out at the next
// start. No HTTP, no SQL.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/mailer.hpp"
#include "smartproduct/identity/service.hpp"
#include "smartproduct/store/account_mail_outbox.hpp"

namespace sp::identity {

inline constexpr std::string_view kMailVerify = "verify-email";
inline constexpr std::string_view kMailReset = "reset-password";
inline constexpr std::string_view kMailSignUpExisting = "signup-existing";

class AccountMailWorker {
 public:
  static constexpr int kMaxAttempts = 8;
  static constexpr std::int64_t kFirstRetryS = 10;
  static constexpr std::int64_t kMaxRetryS = 3600;

  /// Everything must outlive the worker.
  AccountMailWorker(store::AccountMailOutbox& outbox, IdentityService& identity, CodeMailer& mailer,
                    EpochClock clock);
  ~AccountMailWorker();
  AccountMailWorker(const AccountMailWorker&) = delete;
  AccountMailWorker& operator=(const AccountMailWorker&) = delete;

  /// Stores one message (kind: kMail*) for `email` (normalized) and wakes the worker.
  Result<void> queue(std::string_view kind, std::string_view email, std::string_view request_id);

  void start();
  /// Finishes the message being sent (an SMTP timeout at most), then joins. Idempotent.
  void stop();

  /// Handles every message due now; returns how many were handled (sent, skipped or dropped).
  /// The thread's loop body; tests call it directly.
  int send_due();

  /// Seconds until the `attempts`-th retry (1-based): kFirstRetryS doubling up to kMaxRetryS.
  static std::int64_t retry_delay_s(int attempts);

 private:
  // true: done with the row (sent, nothing to send, or given up); false: retry later.
  bool deliver(const store::AccountMail& mail);
  void run();

  store::AccountMailOutbox& outbox_;
  IdentityService& identity_;
  CodeMailer& mailer_;
  EpochClock clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sp::identity
