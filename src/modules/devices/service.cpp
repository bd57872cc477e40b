#include "smartproduct/devices/service.hpp"

#include <algorithm>
#include <cctype>

#include "smartproduct/http/errors.hpp"
#include "smartproduct/http/page_limits.hpp"

namespace sp::devices {
namespace {

// Passes a failed step on. A store failure (busy, closed, corrupt, ...) becomes the catalogue's
// StoreUnavailable / InternalError with the store's cause kept in the logged-only detail.
template <class T>
tl::unexpected<Error> forward(const Result<T>& r) {
  return tl::unexpected<Error>(errors::from_store(r.error()));
}

// A repository's answer with its store failure, if any, mapped as forward() does.
template <class T>
Result<T> mapped(Result<T> r) {
  if (!r) return forward(r);
  return r;
}

constexpr std::int64_t kClaimWindowMs =
    std::chrono::duration_cast<std::chrono::milliseconds>(kClaimWindow).count();

tl::unexpected<Error> missing_device(std::string_view device_id) {
  return fail(errors::kMissingDevice,
              "The device \"" + std::string(device_id) + "\" does not exist.");
}

tl::unexpected<Error> access_denied(std::string_view device_id) {
  return fail(errors::kDeviceAccessDenied,
              "The device \"" + std::string(device_id) + "\" is registered to another user.");
}

tl::unexpected<Error> already_deleted(std::string_view device_id) {
  return fail(errors::kDeviceAlreadyDeleted,
              "The device \"" + std::string(device_id) +
                  "\" is deleted; its registration is read-only history.");
}

tl::unexpected<Error> certificate_not_found(std::string_view fingerprint) {
  return fail(errors::kCertificateNotFound, "The certificate \"" + std::string(fingerprint) +
                                                "\" does not belong to the device.");
}

// The route validated the client's limit already: this guards other callers.
tl::unexpected<Error> invalid_limit() {
  return fail(errors::kInvalidLimit,
              "limit must be an integer from 1 to " + std::to_string(http::kMaxPageLimit) + ".");
}

// SHA-256 fingerprints are stored as 64 uppercase hex digits; accept either case in a URL.
std::optional<std::string> normalize_fingerprint(std::string_view fp) {
  if (fp.size() != 64) return std::nullopt;
  std::string out(fp);
  for (char& c : out) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

DeviceService::DeviceService(store::DeviceRepository& repo, catalog::CatalogService& catalog,
                             const Clock& clock, EventBus& bus, ClaimPolicy policy,
                             ClaimAttemptCounter* per_serial)
    : repo_(repo),
      catalog_(catalog),
      clock_(clock),
      bus_(bus),
      policy_(policy),
      per_serial_(per_serial) {}

// ---- claim-code limiter ----

bool DeviceService::claim_blocked(const std::string& user_id, std::int64_t now_ms) {
  std::lock_guard lock(claims_mu_);
  auto it = claim_failures_.find(user_id);
  if (it == claim_failures_.end()) return false;
  auto& q = it->second;
  while (!q.empty() && q.front() <= now_ms - kClaimWindowMs) q.pop_front();
  if (q.empty()) {
    claim_failures_.erase(it);
    return false;
  }
  return static_cast<int>(q.size()) >= kMaxClaimFailures;
}

void DeviceService::claim_failed(const std::string& user_id, std::int64_t now_ms) {
  std::lock_guard lock(claims_mu_);
  // Now and then drop users whose failures all expired, so the map stays bounded by the users
  // that failed within one window.
  if (++claim_events_ % 1024 == 0) {
    for (auto it = claim_failures_.begin(); it != claim_failures_.end();) {
      if (it->second.empty() || it->second.back() <= now_ms - kClaimWindowMs) {
        it = claim_failures_.erase(it);
      } else {
        ++it;
      }
    }
  }
  auto& q = claim_failures_[user_id];
  q.push_back(now_ms);
  while (static_cast<int>(q.size()) > kMaxClaimFailures) q.pop_front();
}

int DeviceService::claim_retry_after_s(const std::string& user_id, std::string_view device_id) {
  const auto now = clock_.now_ms();
  int wait_s = 0;
  if (per_serial_ && !device_id.empty()) {
    const std::int64_t window = policy_.failure_window.count();
    if (auto c = per_serial_->get(device_id);
        c && c->count > policy_.max_failures_per_serial && now / 1000 - c->window_start < window) {
      wait_s = static_cast<int>(std::max<std::int64_t>(1, c->window_start + window - now / 1000));
    }
  }
  std::lock_guard lock(claims_mu_);
  auto it = claim_failures_.find(user_id);
  if (it == claim_failures_.end() || static_cast<int>(it->second.size()) < kMaxClaimFailures) {
    return wait_s;
  }
  // Blocked until the oldest counted failure leaves the window.
  const auto wait_ms = it->second.front() + kClaimWindowMs - now;
  return std::max(wait_s, static_cast<int>(std::max<std::int64_t>(1, (wait_ms + 999) / 1000)));
}

// ---- registration ----

Result<Registration> DeviceService::register_device(const Caller& caller,
                                                    const RegistrationRequest& request) {
  if (auto v = validate_registration(request); !v) return forward(v);
  auto entry = catalog_.find(request.device_id, request.model_number);
  if (!entry) {
    if (entry.error().kind != ErrorKind::kNotFound) return forward(entry);
    return fail(errors::kDeviceNotFoundFailure,
                "Manufacturer info cannot be found for serial number \"" + request.device_id +
                    "\" and model number \"" + request.model_number +
                    "\". Please add a model number/serial number that is supported by the "
                    "manufacturer.");
  }
  const auto now = clock_.now_ms();
  if (!entry->claim_code_hash && policy_.require_claim_code) {
    return fail(errors::kClaimCodeRequired,
                "This instance requires a claim code for every device, and the catalog has none "
                "for this one; ask the manufacturer to set one.");
  }
  if (entry->claim_code_hash) {
    if (!request.claim_code) {
      return fail(errors::kClaimCodeRequired,
                  "This device needs the claim code printed on it (claimCode).");
    }
    if (claim_blocked(caller.user_id, now)) {
      return fail(errors::kTooManyClaimAttempts,
                  "Too many wrong claim codes; please wait and try again.");
    }
    // Per serial, across all users: counted before the code is checked, in one atomic upsert,
    // so concurrent guesses from many accounts each get their own number; a right code clears it.
    if (per_serial_) {
      auto n = per_serial_->add(request.device_id, now / 1000, policy_.failure_window.count());
      if (!n) return forward(n);
      if (n->count > policy_.max_failures_per_serial) {
        return fail(errors::kTooManyClaimAttempts,
                    "Too many wrong claim codes for this device; please wait and try again.");
      }
    }
    auto ok =
        catalog_.check_claim_code(request.device_id, request.model_number, *request.claim_code);
    if (!ok) return forward(ok);
    if (!*ok) {
      claim_failed(caller.user_id, now);
      return fail(errors::kInvalidClaimCode, "The claim code is wrong.");
    }
    if (per_serial_) (void)per_serial_->clear(request.device_id);
  }
  Registration reg;
  reg.device_id = request.device_id;
  reg.user_id = caller.user_id;
  reg.device_name = request.device_name;
  reg.model_number = request.model_number;
  reg.details = entry->details;
  reg.status = RegistrationStatus::kPending;
  reg.created_at_ms = now;
  reg.updated_at_ms = now;
  // The partial unique index decides between concurrent registrations of one serial; its
  // conflict is the seed's DeviceRegisteredFailure (409).
  auto created = repo_.create_registration(std::move(reg));
  if (!created) {
    if (store::failure_of(created.error()) == store::Failure::kConflict) {
      return fail(
          errors::kDeviceRegisteredFailure,
          "Device with serial number \"" + request.device_id + "\" has been already registered.",
          created.error().detail);
    }
    return forward(created);
  }
  bus_.publish(DeviceRegistered{created->device_id, created->user_id});
  return created;
}

Result<std::vector<Registration>> DeviceService::registrations(const Caller& caller) {
  return mapped(repo_.registrations_of_user(caller.user_id));
}

// ---- devices ----

Result<DevicePage> DeviceService::list_devices(const Caller& caller, int limit,
                                               std::optional<std::int64_t> after_id) {
  if (!http::valid_page_limit(limit)) return invalid_limit();
  const auto owner = caller.admin ? std::nullopt : std::optional<std::string>(caller.user_id);
  return mapped(repo_.list_devices(owner, limit, after_id));
}

Result<std::vector<DeviceSummary>> DeviceService::all_devices(const Caller& caller) {
  std::vector<DeviceSummary> out;
  std::optional<std::int64_t> after;
  while (true) {
    auto page = list_devices(caller, http::kMaxPageLimit, after);
    if (!page) return forward(page);
    std::move(page->items.begin(), page->items.end(), std::back_inserter(out));
    if (!page->next_after_id) return out;
    after = page->next_after_id;
  }
}

Result<DeviceService::Resolved> DeviceService::resolve(const Caller& caller,
                                                       std::string_view device_id) {
  Resolved out;
  // An id the catalog could never hold is unknown, not malformed (seed: ids travel in paths).
  if (!catalog::valid_device_id(device_id)) return out;
  auto live = repo_.live_registration(device_id);
  if (!live) return forward(live);
  out.live = std::move(*live);
  if (caller.admin) {
    out.access = Access::kAdmin;
  } else if (out.live && out.live->user_id == caller.user_id) {
    out.access = Access::kOwner;
  } else {
    auto mine = repo_.latest_registration_of_user(device_id, caller.user_id);
    if (!mine) return forward(mine);
    if (*mine) out.access = Access::kFormerOwner;
  }
  return out;
}

Result<Registration> DeviceService::device(const Caller& caller, std::string_view device_id) {
  if (!catalog::valid_device_id(device_id)) return missing_device(device_id);
  auto row = caller.admin ? repo_.latest_registration(device_id)
                          : repo_.latest_registration_of_user(device_id, caller.user_id);
  if (!row) return forward(row);
  if (*row) return std::move(**row);
  if (!caller.admin) {
    auto any = repo_.latest_registration(device_id);
    if (!any) return forward(any);
    if (*any) return access_denied(device_id);
  }
  return missing_device(device_id);
}

Result<Registration> DeviceService::controllable(const Caller& caller, std::string_view device_id) {
  auto r = resolve(caller, device_id);
  if (!r) return forward(r);
  if (r->live && (r->access == Access::kAdmin || r->access == Access::kOwner)) {
    return std::move(*r->live);
  }
  if (r->access == Access::kFormerOwner) return already_deleted(device_id);
  if (!catalog::valid_device_id(device_id)) return missing_device(device_id);
  auto any = repo_.latest_registration(device_id);
  if (!any) return forward(any);
  if (!*any) return missing_device(device_id);
  if (r->access == Access::kAdmin) return already_deleted(device_id);
  return access_denied(device_id);
}

Result<void> DeviceService::delete_device(const Caller& caller, std::string_view device_id) {
  auto r = resolve(caller, device_id);
  if (!r) return forward(r);
  const bool may_delete = r->live && (r->access == Access::kAdmin || r->access == Access::kOwner);
  if (!may_delete) {
    if (r->access == Access::kFormerOwner) return already_deleted(device_id);
    if (!catalog::valid_device_id(device_id)) return missing_device(device_id);
    auto any = repo_.latest_registration(device_id);
    if (!any) return forward(any);
    if (!*any) return missing_device(device_id);
    // For an admin: every registration of the device is deleted already.
    if (r->access == Access::kAdmin) return already_deleted(device_id);
    return access_denied(device_id);
  }
  auto revoked = repo_.delete_registration(r->live->id, clock_.now_ms());
  if (!revoked) {
    // Deleted by a concurrent request between our read and the write transaction.
    if (revoked.error().kind == ErrorKind::kNotFound) return already_deleted(device_id);
    return forward(revoked);
  }
  bus_.publish(DeviceDeleted{r->live->device_id, r->live->user_id});
  if (!revoked->empty()) bus_.publish(CertificatesRevoked{r->live->device_id, *revoked});
  return {};
}

// ---- certificates ----

Result<std::vector<DeviceCertificate>> DeviceService::certificates(const Caller& caller,
                                                                   std::string_view device_id) {
  auto r = resolve(caller, device_id);
  if (!r) return forward(r);
  if (!catalog::valid_device_id(device_id)) return missing_device(device_id);
  if (r->access == Access::kNone) {
    auto any = repo_.latest_registration(device_id);
    if (!any) return forward(any);
    if (*any) return access_denied(device_id);
    return missing_device(device_id);
  }
  auto certs = repo_.certificates_of_device(device_id);
  if (!certs) return forward(certs);
  if (r->access == Access::kAdmin && !r->live && certs->empty()) {
    // Admins also see certificates of devices never registered (JITR keeps them pending), so
    // only a device unknown to both tables is missing.
    auto any = repo_.latest_registration(device_id);
    if (!any) return forward(any);
    if (!*any) return missing_device(device_id);
  }
  if (r->access == Access::kFormerOwner) {
    // History only: the certificates that served one of the caller's own registrations.
    auto mine = repo_.registrations_of_user(caller.user_id);
    if (!mine) return forward(mine);
    std::vector<std::int64_t> ids;
    for (const auto& reg : *mine) {
      if (reg.device_id == device_id) ids.push_back(reg.id);
    }
    std::erase_if(*certs, [&](const DeviceCertificate& c) {
      return !c.registration_id ||
             std::find(ids.begin(), ids.end(), *c.registration_id) == ids.end();
    });
  }
  return certs;
}

Result<DeviceCertificate> DeviceService::revoke_certificate(const Caller& caller,
                                                            std::string_view device_id,
                                                            std::string_view fingerprint) {
  auto r = resolve(caller, device_id);
  if (!r) return forward(r);
  if (!catalog::valid_device_id(device_id)) return missing_device(device_id);
  switch (r->access) {
    case Access::kAdmin:
    case Access::kOwner:
      break;
    case Access::kFormerOwner:
      return already_deleted(device_id);
    case Access::kNone: {
      auto any = repo_.latest_registration(device_id);
      if (!any) return forward(any);
      if (*any) return access_denied(device_id);
      return missing_device(device_id);
    }
  }
  const auto fp = normalize_fingerprint(fingerprint);
  if (!fp) return certificate_not_found(fingerprint);
  auto cert = repo_.certificate(*fp);
  if (!cert) return forward(cert);
  if (!*cert || (*cert)->device_id != device_id) return certificate_not_found(*fp);
  const auto already = [&] {
    return fail(errors::kCertificateAlreadyRevoked,
                "The certificate \"" + *fp + "\" is already revoked.");
  };
  if ((*cert)->status == CertificateStatus::kRevoked) return already();
  const bool owner = r->live && r->live->user_id == caller.user_id;
  const auto reason = owner ? "revoked_by_owner" : "revoked_by_admin";
  auto revoked = repo_.revoke_certificate(*fp, reason, clock_.now_ms());
  if (!revoked) return forward(revoked);
  if (!*revoked) return already();  // a concurrent revoke won
  bus_.publish(CertificatesRevoked{std::string(device_id), {*fp}});
  auto updated = repo_.certificate(*fp);
  if (!updated) return forward(updated);
  if (!*updated) return certificate_not_found(*fp);
  return std::move(**updated);
}

std::optional<std::string> DeviceService::owner_of(std::string_view device_id) {
  auto live = repo_.live_registration(device_id);
  if (!live || !*live) return std::nullopt;
  return (*live)->user_id;
}

Result<std::vector<SecurityEvent>> DeviceService::security_events(
    const Caller& caller, int limit, std::optional<std::int64_t> before_id,
    std::string_view device_id) {
  if (!caller.admin) {
    return fail(errors::kForbidden, "This route is for administrators.");
  }
  // One row more than a page tells the route whether another page exists.
  if (limit < 1 || limit > http::kMaxPageLimit + 1) return invalid_limit();
  return mapped(repo_.security_events(limit, before_id, device_id));
}

}  // namespace sp::devices
