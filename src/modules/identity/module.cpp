// The identity module: accounts, sign-in and tokens, signing keys, code delivery, and the
// Authenticator every protected route of the modules after it uses.

#include "smartproduct/identity/module.hpp"

#include <spdlog/spdlog.h>

#include <mutex>

#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/accounts.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/identity/events.hpp"
#include "smartproduct/identity/from_config.hpp"
#include "smartproduct/identity/key_store.hpp"
#include "smartproduct/identity/limits.hpp"
#include "smartproduct/identity/mail_outbox.hpp"
#include "smartproduct/identity/mailer.hpp"
#include "smartproduct/identity/routes.hpp"
#include "smartproduct/identity/service.hpp"
#include "store/sqlite/repositories/account_mail_outbox.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::identity {
namespace {

class IdentityModule final : public Module {
 public:
  std::string_view name() const override { return "identity"; }

  void configure(config::Section& section, const config::DaemonConfig& core) override {
    settings_ = read_identity_settings(section, core.storage.data_dir);
  }

  Result<void> build(ModuleContext& ctx) override {
    bus_ = &ctx.bus;
    users_ = sqlite::make_user_repository(ctx.store.main_ptr());
    keys_ = std::make_unique<KeyStore>(settings_.keys_dir);
    const auto keys_error = [&](const Error& e) {
      return fail(ErrorKind::kUnavailable, "KeyStoreError",
                  "[identity] keys_dir " + settings_.keys_dir.string() + ": " + e.message +
                      (e.detail.empty() ? "" : " (" + e.detail + ")"));
    };
    if (auto r = keys_->ensure(signing_algorithm_from(settings_), epoch_()); !r) {
      return keys_error(r.error());
    }
    refresh_keys(true);
    if (!ring_.signing_key()) {
      return fail(ErrorKind::kUnavailable, "KeyStoreError",
                  "[identity] keys_dir " + settings_.keys_dir.string() + ": no usable signing key");
    }
    auto pepper = keys_->load_or_create_pepper();
    if (!pepper) return keys_error(pepper.error());
    // One-time codes here and claim codes in the catalog are HMACed with the same pepper (distinct
    // purpose strings), so smartproductctl and the daemon hash identically.
    code_hasher_ = std::make_unique<CodeHasher>(*pepper);

    config_ = identity_config_from(settings_);
    try {
      identity_ =
          std::make_unique<IdentityService>(config_, *users_.users, ring_, *code_hasher_, epoch_);
    } catch (const std::exception& e) {  // bad Argon2 limits are a startup-config error
      return fail(ErrorKind::kUnavailable, "ConfigError",
                  std::string("[identity] argon2 limits: ") + e.what());
    }
    accounts_ = std::make_unique<AccountService>(*users_.users, *users_.accounts, epoch_);
    auth_ = std::make_unique<Authenticator>(*identity_, *users_.users);
    mailer_config_ = mailer_config_from(settings_);
    mailer_ = make_code_mailer(mailer_config_);
    outbox_ = sqlite::make_account_mail_outbox(ctx.store.main_ptr());
    mail_ = std::make_unique<AccountMailWorker>(*outbox_, *identity_, *mailer_, epoch_);
    limiter_ = std::make_unique<RequestLimiter>(
        RateLimit{settings_.public_rate_per_address_per_min / 60.0,
                  static_cast<double>(settings_.public_burst_per_address)},
        RateLimit{settings_.public_rate_global_per_min / 60.0,
                  static_cast<double>(settings_.public_burst_global)});
    if (settings_.smtp_url.empty()) {
      spdlog::warn(
          "identity: [identity] smtp_url is empty (development): verification and reset codes "
          "are written to this log instead of being mailed");
    }
    ctx.services.provide<const Authenticator>(*auth_);
    ctx.services.provide<const IdentityService>(*identity_);  // token expiry for /api/ws
    ctx.services.provide<const CodeHasher>(*code_hasher_);
    ctx.services.provide<const MailerConfig>(mailer_config_);  // notifications send through it
    auto active = ring_.signing_key();
    spdlog::info("identity: signing with {} key {} ({} keys in the JWKS)",
                 algorithm_name(active->algorithm()), active->kid(), ring_.kids().size());
    return {};
  }

  void register_routes(http::Router& router) override {
    IdentityRoutesDeps deps;
    deps.identity = identity_.get();
    deps.accounts = accounts_.get();
    deps.users = users_.users.get();
    deps.auth = auth_.get();
    deps.keys = &ring_;
    deps.mail = mail_.get();
    deps.limiter = limiter_.get();
    deps.config = config_;
    deps.clock = epoch_;
    deps.refresh_keys = [this] { refresh_keys(false); };
    deps.on_verified = [this](const std::string& user_id) { bus_->publish(UserVerified{user_id}); };
    add_identity_routes(router, std::move(deps));
  }

  Result<void> start() override {
    mail_->start();
    return {};
  }

  void stop() override {
    if (mail_) mail_->stop();
  }

  void reload() override { refresh_keys(true); }

 private:
  // Re-reads the manifest when it changed (a rotation by smartproductctl); cheap otherwise: one
  // stat() per sign-in, refresh or JWKS request.
  void refresh_keys(bool force) {
    std::lock_guard lock(keys_mu_);
    const std::string stamp = keys_->manifest_stamp();
    if (!force && stamp == keys_stamp_) return;
    if (auto r = keys_->load_into(ring_, epoch_()); !r) {
      spdlog::error("identity: keeping the loaded signing keys: {} ({})", r.error().message,
                    r.error().detail);
      return;
    }
    if (!keys_stamp_.empty()) {
      auto active = ring_.signing_key();
      spdlog::info("identity: signing keys reloaded (active kid {}, {} verification keys)",
                   active ? active->kid() : "-", ring_.kids().size());
    }
    keys_stamp_ = stamp;
  }

  IdentitySettings settings_;
  IdentityConfig config_;
  EpochClock epoch_ = system_epoch_clock();
  EventBus* bus_ = nullptr;
  sqlite::UserStore users_;
  KeyRing ring_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<CodeHasher> code_hasher_;
  std::unique_ptr<IdentityService> identity_;
  std::unique_ptr<AccountService> accounts_;
  std::unique_ptr<Authenticator> auth_;
  MailerConfig mailer_config_;
  std::unique_ptr<CodeMailer> mailer_;
  std::unique_ptr<store::AccountMailOutbox> outbox_;
  std::unique_ptr<AccountMailWorker> mail_;
  std::unique_ptr<RequestLimiter> limiter_;
  std::mutex keys_mu_;
  std::string keys_stamp_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<IdentityModule>(); }

}  // namespace sp::identity
