#include "app/access.hpp"

#include <spdlog/spdlog.h>

#include <mutex>

#include "smartproduct/api/openapi.hpp"
#include "smartproduct/catalog/routes.hpp"
#include "smartproduct/catalog/service.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/identity/accounts.hpp"
#include "smartproduct/identity/from_config.hpp"
#include "smartproduct/identity/key_store.hpp"
#include "smartproduct/identity/mailer.hpp"
#include "smartproduct/identity/routes.hpp"
#include "smartproduct/identity/service.hpp"
#include "smartproduct/settings/routes.hpp"
#include "smartproduct/settings/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::app {

struct Access::Impl {
  SystemClock clock;
  identity::EpochClock epoch = identity::system_epoch_clock();
  sqlite::UserStore users;
  std::unique_ptr<store::SettingsRepository> settings_repo;
  identity::KeyRing ring;
  std::unique_ptr<identity::KeyStore> keys;
  std::unique_ptr<identity::IdentityService> identity;
  std::unique_ptr<identity::AccountService> accounts;
  std::unique_ptr<identity::Authenticator> auth;
  std::unique_ptr<identity::CodeMailer> mailer;
  std::unique_ptr<settings::SettingsService> settings;
  std::unique_ptr<store::CatalogRepository> catalog_repo;
  std::unique_ptr<catalog::CatalogService> catalog;

  std::mutex keys_mu;
  std::string keys_stamp;

  // Re-reads the manifest when it changed (a rotation by smartproductctl); cheap otherwise: one
  // stat() per sign-in, refresh or JWKS request.
  void refresh_keys(bool force) {
    std::lock_guard lock(keys_mu);
    const std::string stamp = keys->manifest_stamp();
    if (!force && stamp == keys_stamp) return;
    if (auto r = keys->load_into(ring, epoch()); !r) {
      spdlog::error("identity: keeping the loaded signing keys: {} ({})", r.error().message,
                    r.error().detail);
      return;
    }
    if (!keys_stamp.empty()) {
      auto active = ring.signing_key();
      spdlog::info("identity: signing keys reloaded (active kid {}, {} verification keys)",
                   active ? active->kid() : "-", ring.kids().size());
    }
    keys_stamp = stamp;
  }
};

Access::Access(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Access::~Access() = default;

const identity::Authenticator& Access::authenticator() const { return *impl_->auth; }

catalog::CatalogService& Access::catalog() const { return *impl_->catalog; }

void Access::reload() { impl_->refresh_keys(true); }

Result<std::unique_ptr<Access>> Access::create(const config::DaemonConfig& config,
                                               std::shared_ptr<sqlite::Database> main_db,
                                               http::Router& router) {
  const auto& s = config.identity;
  auto impl = std::make_unique<Impl>();
  impl->users = sqlite::make_user_repository(main_db);
  impl->settings_repo = sqlite::make_settings_repository(main_db);

  const auto alg = identity::signing_algorithm_from(s);
  impl->keys = std::make_unique<identity::KeyStore>(s.keys_dir);
  const auto keys_error = [&](const Error& e) {
    return fail(ErrorKind::kUnavailable, "KeyStoreError",
                "[identity] keys_dir " + s.keys_dir.string() + ": " + e.message +
                    (e.detail.empty() ? "" : " (" + e.detail + ")"));
  };
  if (auto r = impl->keys->ensure(alg, impl->epoch()); !r) return keys_error(r.error());
  impl->refresh_keys(true);
  if (!impl->ring.signing_key()) {
    return fail(ErrorKind::kUnavailable, "KeyStoreError",
                "[identity] keys_dir " + s.keys_dir.string() + ": no usable signing key");
  }
  auto pepper = impl->keys->load_or_create_pepper();
  if (!pepper) return keys_error(pepper.error());

  const auto icfg = identity::identity_config_from(s);
  try {
    impl->identity = std::make_unique<identity::IdentityService>(
        icfg, *impl->users.users, impl->ring, identity::CodeHasher(*pepper), impl->epoch);
  } catch (const std::exception& e) {  // bad Argon2 limits are a startup-config error
    return fail(ErrorKind::kUnavailable, "ConfigError",
                std::string("[identity] argon2 limits: ") + e.what());
  }
  impl->accounts = std::make_unique<identity::AccountService>(*impl->users.users,
                                                              *impl->users.accounts, impl->epoch);
  impl->auth = std::make_unique<identity::Authenticator>(*impl->identity, *impl->users.users);
  impl->mailer = identity::make_code_mailer(identity::mailer_config_from(s));
  if (s.smtp_url.empty()) {
    spdlog::warn(
        "identity: [identity] smtp_url is empty (development): verification and reset codes are "
        "written to this log instead of being mailed");
  }
  impl->settings = std::make_unique<settings::SettingsService>(*impl->settings_repo, impl->clock);
  // Claim codes are HMACed with the same pepper as one-time codes (a distinct purpose string), so
  // `smartproductctl catalog import` and the daemon hash identically.
  impl->catalog_repo = sqlite::make_catalog_repository(main_db);
  impl->catalog = std::make_unique<catalog::CatalogService>(*impl->catalog_repo, impl->clock,
                                                            identity::CodeHasher(*pepper));

  Impl* self = impl.get();
  identity::IdentityRoutesDeps deps;
  deps.identity = self->identity.get();
  deps.accounts = self->accounts.get();
  deps.users = self->users.users.get();
  deps.auth = self->auth.get();
  deps.keys = &self->ring;
  deps.mailer = self->mailer.get();
  deps.config = icfg;
  deps.clock = self->epoch;
  deps.refresh_keys = [self] { self->refresh_keys(false); };
  deps.on_verified = [self](const std::string& user_id) {
    if (auto r = self->settings->ensure_user_defaults(user_id); !r) {
      spdlog::error("settings: creating the defaults of {} failed: {}", user_id, r.error().detail);
    }
  };
  identity::add_identity_routes(router, std::move(deps));
  settings::add_settings_routes(router, *self->settings, *self->auth);
  catalog::add_catalog_routes(router, *self->catalog, *self->auth);
  api::add_openapi_route(router);
  auto active = self->ring.signing_key();
  spdlog::info("identity: signing with {} key {} ({} keys in the JWKS)",
               identity::algorithm_name(active->algorithm()), active->kid(),
               self->ring.kids().size());
  return std::unique_ptr<Access>(new Access(std::move(impl)));
}

}  // namespace sp::app
