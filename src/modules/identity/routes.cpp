#include "smartproduct/identity/routes.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/logging.hpp"
#include "smartproduct/http/paging.hpp"

namespace sp::identity {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

// Reads an optional string member: absent → nullopt; present but not a string → 400.
Result<std::optional<std::string>> optional_string(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) {
    return fail(errors::kInvalidField, std::string(key) + " must be a string.");
  }
  return std::optional<std::string>(it->get<std::string>());
}

// A required string member: absent → 422 MissingField.
Result<std::string> required_string(const json& body, const char* key) {
  auto v = optional_string(body, key);
  if (!v) return tl::unexpected(v.error());
  if (!*v) {
    return fail(errors::kMissingField, std::string(key) + " is required.");
  }
  return std::move(**v);
}

// An empty body counts as {} for the routes whose fields are all optional (API clients often send
// no body to refresh/logout).
Result<json> optional_body(const Request& req) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  return http::parse_json_object(req);
}

std::string iso_seconds(std::int64_t epoch_s) { return iso8601_ms(epoch_s * 1000); }

json user_json(const store::UserWithProfile& u) {
  return {{"userId", u.user.id},
          {"email", u.user.email},
          {"name", u.profile.name},
          {"phone", u.profile.phone.empty() ? json(nullptr) : json(u.profile.phone)},
          {"role", std::string(role_name(u.user.role))},
          {"verified", u.user.email_verified},
          {"enabled", u.user.enabled},
          {"createdAt", iso_seconds(u.user.created_at)}};
}

std::string cookie_value(std::string_view token, std::int64_t max_age) {
  return std::string(kRefreshCookie) + "=" + std::string(token) +
         "; HttpOnly; Secure; SameSite=Strict; Path=/api/auth; Max-Age=" +
         std::to_string(std::max<std::int64_t>(0, max_age));
}

Response error_response(const Error& e) {
  auto r = Response::error(e);
  if (e.kind == ErrorKind::kUnauthenticated) {
    r.set_header("www-authenticate", "Bearer realm=\"smartproduct\"");
  }
  if (e.kind == ErrorKind::kRateLimited) r.set_header("retry-after", "1");
  return r;  // a 5xx is logged by the HTTP dispatcher, with its request id
}

// The users list resumes after (createdAt, id): {"c": createdAt, "i": id}.
std::optional<store::UserCursor> user_key(const json& key) {
  const auto c = key.find("c");
  const auto i = key.find("i");
  if (c == key.end() || !c->is_number_integer() || i == key.end() || !i->is_string()) {
    return std::nullopt;
  }
  return store::UserCursor{c->get<std::int64_t>(), i->get<std::string>()};
}

// The audit log resumes before an entry id: {"b": id}.
std::optional<std::int64_t> audit_key(const json& key) {
  const auto b = key.find("b");
  if (b == key.end() || !b->is_number_integer() || b->get<std::int64_t>() < 1) return std::nullopt;
  return b->get<std::int64_t>();
}

class Routes {
 public:
  explicit Routes(IdentityRoutesDeps d) : d_(std::move(d)) {}

  std::int64_t now() const { return d_.clock(); }

  Response tokens(const AuthTokens& t, int status = 200) const {
    auto r = Response::json(status,
                            {{"accessToken", t.access_token},
                             {"refreshToken", t.refresh_token},
                             {"expiresIn", std::max<std::int64_t>(0, t.access_expires_at - now())},
                             {"tokenType", "Bearer"}});
    r.set_header("set-cookie", cookie_value(t.refresh_token, t.refresh_expires_at - now()));
    return r;
  }

  // The error of a code route; a 429 says when the limit that refused it ends.
  Response code_error(const Error& e, std::string_view email, const Request& req,
                      bool issuing) const {
    auto r = error_response(e);
    if (e.kind == ErrorKind::kRateLimited) {
      r.set_header("retry-after", std::to_string(d_.identity->code_retry_after(
                                      email, req.remote_address, issuing)));
    }
    return r;
  }

  // Queues account mail for the worker. The answer is the same whether or not this works (and
  // whether or not the account exists); a failure is logged and the user can ask again.
  void queue_mail(std::string_view kind, const std::string& email) const {
    if (auto r = d_.mail->queue(kind, email, logging::request_id()); !r) {
      spdlog::error("identity: queueing account mail failed: {}", r.error().detail);
    }
  }

  // 0: admitted; else the Retry-After of a 429.
  std::int64_t admit(const Request& req) const {
    if (!d_.limiter) return 0;
    const double now_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    return d_.limiter->admit(address_key(req.remote_address), now_s);
  }

  void verified(const std::string& user_id) const {
    if (d_.on_verified) d_.on_verified(user_id);
  }

  Response signup(Request& req) const {
    auto body = http::parse_json_object(req);
    if (!body) return error_response(body.error());
    auto email = required_string(*body, "email");
    if (!email) return error_response(email.error());
    auto password = required_string(*body, "password");
    if (!password) return error_response(password.error());
    auto name = required_string(*body, "name");
    if (!name) return error_response(name.error());
    auto phone = optional_string(*body, "phone");
    if (!phone) return error_response(phone.error());
    // Profile checks first: a refused name must not leave a half-created account behind.
    auto checked_name = check_name(*name, true);
    if (!checked_name) return error_response(checked_name.error());
    auto checked_phone = check_phone(phone->value_or(""));
    if (!checked_phone) return error_response(checked_phone.error());
    auto created = d_.identity->sign_up(*email, *password, false);
    if (!created) return error_response(created.error());
    // An existing email gets the same answer (a fresh id that belongs to no account) and its
    // owner a notice: the answer, and the work done before it, reveal nothing.
    if (created->already_existed) {
      queue_mail(kMailSignUpExisting, created->user.email);
    } else {
      if (auto r = d_.accounts->set_profile(created->user.id, *checked_name, *checked_phone); !r) {
        spdlog::error("identity: storing the profile of {} failed: {}", created->user.id,
                      r.error().detail);
      }
      queue_mail(kMailVerify, created->user.email);
    }
    return Response::json(
        201, {{"userId", created->user.id}, {"email", created->user.email}, {"verified", false}});
  }

  Response verify(Request& req) const {
    auto body = http::parse_json_object(req);
    if (!body) return error_response(body.error());
    auto email = required_string(*body, "email");
    if (!email) return error_response(email.error());
    auto code = required_string(*body, "code");
    if (!code) return error_response(code.error());
    auto user = d_.identity->verify_email(*email, *code, req.remote_address);
    if (!user) return code_error(user.error(), *email, req, false);
    verified(user->id);
    return Response::json(200, {{"verified", true}});
  }

  Response resend(Request& req) const {
    auto body = http::parse_json_object(req);
    if (!body) return error_response(body.error());
    auto email = required_string(*body, "email");
    if (!email) return error_response(email.error());
    auto normalized = d_.identity->request_code(*email, req.remote_address);
    if (!normalized) return code_error(normalized.error(), *email, req, true);
    if (*normalized) queue_mail(kMailVerify, **normalized);
    return Response::json(202, {{"message",
                                 "If the account exists and is not verified yet, a "
                                 "new code has been sent."}});
  }

  Response login(Request& req) const {
    auto body = http::parse_json_object(req);
    if (!body) return error_response(body.error());
    auto email = required_string(*body, "email");
    if (!email) return error_response(email.error());
    auto password = required_string(*body, "password");
    if (!password) return error_response(password.error());
    if (d_.refresh_keys) d_.refresh_keys();
    auto t = d_.identity->login(*email, *password, req.remote_address);
    if (!t) {
      auto r = error_response(t.error());
      if (t.error().kind == ErrorKind::kRateLimited) {
        r.set_header("retry-after",
                     std::to_string(d_.identity->login_retry_after(*email, req.remote_address)));
      }
      return r;
    }
    // Accounts verified before the settings module existed (or by a reset) get their row here.
    verified(t->user.id);
    return tokens(*t);
  }

  std::optional<std::string> presented_refresh_token(const Request& req, const json& body,
                                                     Error& error) const {
    auto from_body = optional_string(body, "refreshToken");
    if (!from_body) {
      error = from_body.error();
      return std::nullopt;
    }
    if (*from_body && !(*from_body)->empty()) return **from_body;
    if (auto cookie = req.header("cookie")) return refresh_cookie(*cookie);
    return std::nullopt;
  }

  Response refresh(Request& req) const {
    auto body = optional_body(req);
    if (!body) return error_response(body.error());
    Error error;
    auto token = presented_refresh_token(req, *body, error);
    if (!error.name.empty()) return error_response(error);
    if (!token) {
      return error_response(
          errors::kInvalidRefreshToken.error("The session has expired; please log in again."));
    }
    if (d_.refresh_keys) d_.refresh_keys();
    auto t = d_.identity->refresh(*token);
    if (!t) {
      auto r = error_response(t.error());
      // A dead cookie is useless to the browser: drop it so it stops presenting it.
      if (t.error().kind == ErrorKind::kUnauthenticated)
        r.set_header("set-cookie", cookie_value("", 0));
      return r;
    }
    return tokens(*t);
  }

  Response logout(Request& req) const {
    auto body = optional_body(req);
    if (!body) return error_response(body.error());
    Error error;
    auto token = presented_refresh_token(req, *body, error);
    if (!error.name.empty()) return error_response(error);
    if (token) {
      if (auto r = d_.identity->logout(*token); !r) return error_response(r.error());
    }
    Response r;
    r.status = 204;
    r.set_header("set-cookie", cookie_value("", 0));
    return r;
  }

  Response me(const Principal& who) const {
    auto u = d_.accounts->get(who.user_id);
    if (!u) return error_response(u.error());
    return Response::json(200, user_json(*u));
  }

  Response change_password(Request& req, const Principal& who) const {
    auto body = http::parse_json_object(req);
    if (!body) return error_response(body.error());
    auto current = required_string(*body, "currentPassword");
    if (!current) return error_response(current.error());
    auto next = required_string(*body, "newPassword");
    if (!next) return error_response(next.error());
    if (auto r = d_.identity->change_password(who.user_id, *current, *next); !r) {
      return error_response(r.error());
    }
    Response r;
    r.status = 204;
    // Every session of the account was revoked; this browser gets a fresh one so that the person
    // who just changed the password stays signed in here (and only here).
    if (d_.refresh_keys) d_.refresh_keys();
    if (auto t = d_.identity->login(who.email, *next, req.remote_address)) {
      r.set_header("set-cookie", cookie_value(t->refresh_token, t->refresh_expires_at - now()));
    }
    return r;
  }

  Response forgot(Request& req) const {
    auto body = http::parse_json_object(req);
    if (!body) return error_response(body.error());
    auto email = required_string(*body, "email");
    if (!email) return error_response(email.error());
    auto normalized = d_.identity->request_code(*email, req.remote_address);
    if (!normalized) return code_error(normalized.error(), *email, req, true);
    if (*normalized) queue_mail(kMailReset, **normalized);
    return Response::json(
        202, {{"message", "If the account exists, a reset code has been sent to its email."}});
  }

  Response reset(Request& req) const {
    auto body = http::parse_json_object(req);
    if (!body) return error_response(body.error());
    auto email = required_string(*body, "email");
    if (!email) return error_response(email.error());
    auto code = required_string(*body, "code");
    if (!code) return error_response(code.error());
    auto next = required_string(*body, "newPassword");
    if (!next) return error_response(next.error());
    if (auto r = d_.identity->reset_password(*email, *code, *next, req.remote_address); !r) {
      return code_error(r.error(), *email, req, false);
    }
    // The reset proved control of the mailbox, which also verifies the account.
    if (auto normalized = normalize_email(*email)) {
      if (auto u = d_.users->find_user_by_email(*normalized); u && *u) verified((*u)->id);
    }
    Response r;
    r.status = 204;
    return r;
  }

  Response jwks_route(Request&) const { return jwks(); }

  Response jwks() const {
    if (d_.refresh_keys) d_.refresh_keys();
    auto r = Response::json(200, d_.keys->jwks());
    r.set_header("cache-control", "public, max-age=60");
    return r;
  }

  Response list_users(Request& req) const {
    auto page = http::parse_page<store::UserCursor>(req, user_key);
    if (!page) return error_response(page.error());
    auto rows = d_.accounts->list(page->limit, page->after);
    if (!rows) return error_response(rows.error());
    json items = json::array();
    for (const auto& u : rows->items) items.push_back(user_json(u));
    std::optional<json> next;
    if (rows->next) next = json{{"c", rows->next->created_at}, {"i", rows->next->id}};
    return Response::json(200, http::page_json(std::move(items), next));
  }

  Response get_user(Request& req) const {
    auto u = d_.accounts->get(req.param("id"));
    if (!u) return error_response(u.error());
    return Response::json(200, user_json(*u));
  }

  Response patch_user(Request& req, const Principal& who) const {
    auto body = http::parse_json_object(req);
    if (!body) return error_response(body.error());
    AccountPatch patch;
    if (auto it = body->find("enabled"); it != body->end()) {
      if (!it->is_boolean()) {
        return error_response(errors::kInvalidField.error("enabled must be true or false."));
      }
      patch.enabled = it->get<bool>();
    }
    // null is not a role (optional_string would take it for "absent").
    if (auto it = body->find("role"); it != body->end() && it->is_null()) {
      return error_response(errors::kInvalidField.error("role must be admin or user."));
    }
    auto role = optional_string(*body, "role");
    if (!role) return error_response(role.error());
    if (*role) {
      patch.role = parse_role(**role);
      if (!patch.role) {
        return error_response(errors::kInvalidRole.error("role must be admin or user."));
      }
    }
    if (!patch.enabled && !patch.role) {
      return error_response(
          errors::kEmptyPatch.error("Send enabled (true/false) or role (admin/user)."));
    }
    auto u = d_.accounts->patch(who.user_id, req.param("id"), patch);
    if (!u) return error_response(u.error());
    return Response::json(200, user_json(*u));
  }

  Response delete_user(Request& req, const Principal& who) const {
    if (auto r = d_.accounts->remove(who.user_id, req.param("id")); !r) {
      return error_response(r.error());
    }
    Response r;
    r.status = 204;
    return r;
  }

  Response audit(Request& req) const {
    // The cursor used to be the bare entry id; it is opaque like every other list's now.
    auto page = http::parse_page<std::int64_t>(req, audit_key);
    if (!page) return error_response(page.error());
    auto rows = d_.accounts->audit_log(page->limit, page->after);
    if (!rows) return error_response(rows.error());
    json items = json::array();
    for (const auto& a : rows->items) {
      json details = json::object();
      if (!a.entry.detail.empty()) {
        details = json::parse(a.entry.detail, nullptr, false);
        if (!details.is_object()) details = json{{"info", a.entry.detail}};
      }
      items.push_back({{"id", std::to_string(a.id)},
                       {"actorId", a.entry.actor.empty() ? json(nullptr) : json(a.entry.actor)},
                       {"actorEmail", a.actor_email.empty() ? json(nullptr) : json(a.actor_email)},
                       {"action", a.entry.action},
                       {"targetId", a.entry.target.empty() ? json(nullptr) : json(a.entry.target)},
                       {"details", details},
                       {"createdAt", iso_seconds(a.entry.at)}});
    }
    std::optional<json> next;
    if (rows->next) next = json{{"b", *rows->next}};
    return Response::json(200, http::page_json(std::move(items), next));
  }

  const IdentityRoutesDeps& deps() const { return d_; }

 private:
  IdentityRoutesDeps d_;
};

}  // namespace

std::optional<std::string> refresh_cookie(std::string_view header) {
  const std::string_view name = kRefreshCookie;
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    while (!pair.empty() && pair.back() == ' ') pair.remove_suffix(1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    auto value = pair.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (!value.empty()) return std::string(value);
  }
  return std::nullopt;
}

void add_identity_routes(http::Router& router, IdentityRoutesDeps deps) {
  auto routes = std::make_shared<const Routes>(std::move(deps));
  const Authenticator& auth = *routes->deps().auth;
  // Every unauthenticated route passes the request limits first (429 + Retry-After); a 503
  // from a full Argon2id queue says when to come back.
  const auto open = [&](const char* method, const char* path,
                        Response (Routes::*fn)(Request&) const) {
    router.add(method, path, [routes, fn](Request& req) {
      if (const auto wait = routes->admit(req)) {
        auto r = Response::error(errors::kTooManyAttempts,
                                 "Too many requests; please wait and try again.");
        r.set_header("retry-after", std::to_string(wait));
        return r;
      }
      auto r = ((*routes).*fn)(req);
      if (r.status == 503) {
        r.set_header("retry-after", std::to_string(routes->deps().identity->busy_retry_after()));
      }
      return r;
    });
  };
  open("POST", "/api/auth/signup", &Routes::signup);
  open("POST", "/api/auth/verify", &Routes::verify);
  open("POST", "/api/auth/verify/resend", &Routes::resend);
  open("POST", "/api/auth/login", &Routes::login);
  open("POST", "/api/auth/refresh", &Routes::refresh);
  open("POST", "/api/auth/logout", &Routes::logout);
  open("POST", "/api/auth/password/forgot", &Routes::forgot);
  open("POST", "/api/auth/password/reset", &Routes::reset);
  open("GET", "/api/.well-known/jwks.json", &Routes::jwks_route);

  router.add("GET", "/api/auth/me",
             auth.protect([routes](Request&, const Principal& p) { return routes->me(p); }));
  router.add("POST", "/api/auth/password/change",
             auth.protect([routes](Request& r, const Principal& p) {
               return routes->change_password(r, p);
             }));

  router.add("GET", "/api/admin/users", auth.protect_admin([routes](Request& r, const Principal&) {
    return routes->list_users(r);
  }));
  router.add(
      "GET", "/api/admin/users/{id}",
      auth.protect_admin([routes](Request& r, const Principal&) { return routes->get_user(r); }));
  router.add("PATCH", "/api/admin/users/{id}",
             auth.protect_admin(
                 [routes](Request& r, const Principal& p) { return routes->patch_user(r, p); }));
  router.add("DELETE", "/api/admin/users/{id}",
             auth.protect_admin(
                 [routes](Request& r, const Principal& p) { return routes->delete_user(r, p); }));
  router.add("GET", "/api/admin/audit", auth.protect_admin([routes](Request& r, const Principal&) {
    return routes->audit(r);
  }));
}

}  // namespace sp::identity
