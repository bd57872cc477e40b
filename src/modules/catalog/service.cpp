#include "smartproduct/catalog/service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "smartproduct/http/errors.hpp"
#include "smartproduct/http/page_limits.hpp"
#include "smartproduct/pki/ca_types.hpp"

namespace sp::catalog {
namespace {

using nlohmann::json;

constexpr std::string_view kClaimPurpose = "catalog-claim";

bool all_of(std::string_view s, bool (*ok)(char)) { return std::all_of(s.begin(), s.end(), ok); }

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

tl::unexpected<Error> invalid(std::string message) {
  return fail(errors::kInvalidCatalogEntry, std::move(message));
}

tl::unexpected<Error> not_found(std::string_view device_id, std::string_view model_number) {
  return fail(errors::kCatalogEntryNotFound, "No catalog entry for serial number \"" +
                                                 std::string(device_id) + "\" and model number \"" +
                                                 std::string(model_number) + "\".");
}

// The account part of the HMAC: ':' may occur in both fields, '\n' in neither, so the pair is
// encoded unambiguously.
std::string claim_account(std::string_view device_id, std::string_view model_number) {
  std::string out(device_id);
  out += '\n';
  out += model_number;
  return out;
}

// A CA id as the CA routes accept it (pki::normalize_ca_id), and hex; nullopt when it is not one.
std::optional<std::string> normalize_ca_id(std::string_view text) {
  std::string id = pki::normalize_ca_id(text);
  const bool hex = std::all_of(id.begin(), id.end(),
                               [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  if (id.empty() || id.size() > 128 || !hex) return std::nullopt;
  return id;
}

}  // namespace

bool valid_device_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxDeviceIdLength &&
         all_of(id, [](char c) { return alnum(c) || c == ':' || c == '_' || c == '-'; });
}

bool valid_model_number(std::string_view model) {
  return !model.empty() && model.size() <= kMaxModelNumberLength && all_of(model, [](char c) {
    return alnum(c) || std::string_view("-_.,:/@#").find(c) != std::string_view::npos;
  });
}

bool valid_claim_code(std::string_view code) {
  return code.size() >= kMinClaimCodeLength && code.size() <= kMaxClaimCodeLength &&
         all_of(code, [](char c) { return c > ' ' && c < 0x7f; });
}

Result<void> validate_entry(const NewEntry& e) {
  if (!valid_device_id(e.device_id)) {
    return invalid("deviceId must be 1 to 128 characters from A-Z a-z 0-9 : _ -.");
  }
  if (!valid_model_number(e.model_number)) {
    return invalid("modelNumber must be 1 to 64 characters from A-Z a-z 0-9 - _ . , : / @ #.");
  }
  if (!e.details.is_object()) return invalid("details must be a JSON object.");
  if (e.details.dump().size() > kMaxDetailsBytes) {
    return invalid("details must not exceed " + std::to_string(kMaxDetailsBytes) + " bytes.");
  }
  if (e.claim_code && !valid_claim_code(*e.claim_code)) {
    return invalid("claimCode must be 8 to 128 printable ASCII characters without spaces.");
  }
  if (e.ca_id && !normalize_ca_id(*e.ca_id)) {
    return invalid("caId must be the id of a registered CA (its subject key identifier in hex).");
  }
  return {};
}

Result<NewEntry> entry_from_json(const json& o) {
  if (!o.is_object()) return invalid("The entry must be a JSON object.");
  NewEntry e;
  const auto text = [&](const char* key, std::string& out) -> Result<void> {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return invalid(std::string(key) + " is required.");
    if (!it->is_string()) return invalid(std::string(key) + " must be a string.");
    out = it->get<std::string>();
    return {};
  };
  if (auto r = text("deviceId", e.device_id); !r) return tl::unexpected(r.error());
  if (auto r = text("modelNumber", e.model_number); !r) return tl::unexpected(r.error());
  if (auto it = o.find("details"); it != o.end() && !it->is_null()) {
    if (!it->is_object()) return invalid("details must be a JSON object.");
    e.details = *it;
  }
  if (auto it = o.find("claimCode"); it != o.end() && !it->is_null()) {
    if (!it->is_string()) return invalid("claimCode must be a string.");
    e.claim_code = it->get<std::string>();
  }
  if (auto it = o.find("caId"); it != o.end() && !it->is_null()) {
    if (!it->is_string()) return invalid("caId must be a string.");
    e.ca_id = it->get<std::string>();
  }
  if (auto r = validate_entry(e); !r) return tl::unexpected(r.error());
  return e;
}

CatalogService::CatalogService(store::CatalogRepository& repo, const Clock& clock,
                               identity::CodeHasher hasher)
    : repo_(repo), clock_(clock), hasher_(std::move(hasher)) {}

std::string CatalogService::hash_claim_code(std::string_view device_id,
                                            std::string_view model_number,
                                            std::string_view code) const {
  return hasher_.hash(kClaimPurpose, claim_account(device_id, model_number), code);
}

store::CatalogEntry CatalogService::to_row(const NewEntry& e, std::int64_t now_ms) const {
  store::CatalogEntry row;
  row.device_id = e.device_id;
  row.model_number = e.model_number;
  row.details = e.details;
  if (e.claim_code)
    row.claim_code_hash = hash_claim_code(e.device_id, e.model_number, *e.claim_code);
  if (e.ca_id) row.ca_id = normalize_ca_id(*e.ca_id);
  row.created_at_ms = now_ms;
  row.updated_at_ms = now_ms;
  return row;
}

Result<store::CatalogEntry> CatalogService::find(std::string_view device_id,
                                                 std::string_view model_number) {
  auto row = repo_.find(device_id, model_number);
  if (!row) return tl::unexpected(row.error());
  if (!*row) return not_found(device_id, model_number);
  return std::move(**row);
}

Result<bool> CatalogService::check_claim_code(std::string_view device_id,
                                              std::string_view model_number,
                                              std::string_view code) {
  auto entry = find(device_id, model_number);
  if (!entry) return tl::unexpected(entry.error());
  if (!entry->claim_code_hash) return true;
  const bool ok = hasher_.verify(kClaimPurpose, claim_account(device_id, model_number), code,
                                 *entry->claim_code_hash);
  // Only hashes are stored, so a short code of an older row shows itself when it is used.
  if (ok && code.size() < kMinClaimCodeLength) {
    spdlog::warn(
        "catalog: the claim code of {} ({}) has {} characters, fewer than {}; give it a longer "
        "one (smartproductctl catalog import or the catalog API)",
        device_id, model_number, code.size(), kMinClaimCodeLength);
  }
  return ok;
}

Result<store::CatalogPage> CatalogService::list(int limit,
                                                const std::optional<std::string>& model_number,
                                                const std::optional<store::CatalogKey>& after) {
  if (!http::valid_page_limit(limit)) {
    return fail(errors::kInvalidLimit,
                "limit must be an integer from 1 to " + std::to_string(http::kMaxPageLimit) + ".");
  }
  if (model_number && !valid_model_number(*model_number)) {
    return invalid("modelNumber must be 1 to 64 characters from A-Z a-z 0-9 - _ . , : / @ #.");
  }
  return repo_.list(limit, model_number, after);
}

Result<void> CatalogService::check_bindable(const std::optional<std::string>& ca_id) {
  if (!ca_id) return {};
  auto ok = repo_.ca_bindable(*ca_id);
  if (!ok) return tl::unexpected(ok.error());
  if (!*ok) {
    return invalid("caId " + *ca_id + " is not a registered CA (GET /api/admin/cas lists them).");
  }
  return {};
}

Result<store::CatalogEntry> CatalogService::create(const NewEntry& entry) {
  if (auto r = validate_entry(entry); !r) return tl::unexpected(r.error());
  auto row = to_row(entry, clock_.now_ms());
  if (auto r = check_bindable(row.ca_id); !r) return tl::unexpected(r.error());
  auto inserted = repo_.insert(row);
  if (!inserted) return tl::unexpected(inserted.error());
  if (!*inserted) {
    return fail(errors::kCatalogEntryExists, "The catalog already has serial number \"" +
                                                 entry.device_id + "\" with model number \"" +
                                                 entry.model_number + "\".");
  }
  return row;
}

Result<void> CatalogService::remove(std::string_view device_id, std::string_view model_number) {
  auto removed = repo_.remove(device_id, model_number);
  if (!removed) return tl::unexpected(removed.error());
  if (!*removed) return not_found(device_id, model_number);
  return {};
}

Result<store::ImportCounts> CatalogService::import(const std::vector<NewEntry>& entries,
                                                   store::ExistingEntries existing,
                                                   const store::ImportProgress& progress) {
  const auto now = clock_.now_ms();
  std::vector<store::CatalogEntry> rows;
  rows.reserve(entries.size());
  std::set<std::string> checked_cas;  // an import binds many rows to few CAs
  for (const auto& e : entries) {
    if (auto r = validate_entry(e); !r) return tl::unexpected(r.error());
    rows.push_back(to_row(e, now));
    if (const auto& ca = rows.back().ca_id; ca && checked_cas.insert(*ca).second) {
      if (auto r = check_bindable(ca); !r) {
        auto error = r.error();
        error.message += " (serial " + e.device_id + ")";
        return tl::unexpected(std::move(error));
      }
    }
  }
  return repo_.import(rows, existing, progress);
}

json to_json(const store::CatalogEntry& e) {
  return json{{"deviceId", e.device_id},
              {"modelNumber", e.model_number},
              {"details", e.details},
              {"hasClaimCode", e.claim_code_hash.has_value()},
              {"caId", e.ca_id ? json(*e.ca_id) : json(nullptr)},
              {"createdAt", iso8601_ms(e.created_at_ms)},
              {"updatedAt", iso8601_ms(e.updated_at_ms)}};
}

}  // namespace sp::catalog
