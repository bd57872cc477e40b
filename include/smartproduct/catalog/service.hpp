#pragma once
// The catalog module: the manufacturer's reference catalog of serial/model numbers that may be
// registered (the seed's Reference table, read by its registration service). Admins manage it
// through /api/admin/catalog and `smartproductctl catalog import`; the registration module reads it
// through find() and check_claim_code(). No HTTP, no SQL.
//
// Claim codes are short, low-entropy secrets printed on a product. They are stored only as an
// HMAC-SHA-256 keyed by the server's pepper (identity::CodeHasher, purpose "catalog-claim", bound
// to the (deviceId, modelNumber) key) rather than Argon2id: a leaked database alone cannot be
// brute-forced without the pepper (kept outside the database, 0600), the hash is bound to its
// entry, and a 100k-row import hashes in milliseconds instead of hours (Argon2id at the
// interactive limits costs ~50-100 ms per code).
//
// Error names: CatalogEntryNotFound (404), CatalogEntryExists (409), InvalidCatalogEntry (422).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/secrets.hpp"
#include "smartproduct/store/catalog_repository.hpp"

namespace sp::catalog {

inline constexpr std::size_t kMaxDeviceIdLength = 128;
inline constexpr std::size_t kMaxModelNumberLength = 64;
/// For new rows and imports; shorter codes of older rows keep working (a claim with one logs a
/// warning asking for a longer code).
inline constexpr std::size_t kMinClaimCodeLength = 8;
inline constexpr std::size_t kMaxClaimCodeLength = 128;
/// Largest serialized `details` object.
inline constexpr std::size_t kMaxDetailsBytes = 16 * 1024;

/// An entry as an admin supplies it (the claim code in clear, before hashing).
struct NewEntry {
  std::string device_id;
  std::string model_number;
  nlohmann::json details = nlohmann::json::object();
  std::optional<std::string> claim_code;
  /// Binds the serial to one registered CA (its id: the subject key identifier in hex, colons
  /// and case as the admin likes; stored normalized). Only that CA's certificates activate it.
  std::optional<std::string> ca_id;
};

/// [A-Za-z0-9:_-]{1,128} (the MQTT client id / certificate CN of the device).
bool valid_device_id(std::string_view id);
/// The seed console's character set [a-zA-Z0-9-_.,:/@#]{1,64}.
bool valid_model_number(std::string_view model);
/// Printable ASCII without spaces, 4..128 characters.
bool valid_claim_code(std::string_view code);

/// Validates a JSON object {deviceId, modelNumber, details?, claimCode?} (unknown keys ignored;
/// null details / claimCode mean absent). kUnprocessable "InvalidCatalogEntry" with a message
/// naming the field otherwise.
Result<NewEntry> entry_from_json(const nlohmann::json& object);
/// Validates an entry's fields (as entry_from_json does after extracting them).
Result<void> validate_entry(const NewEntry& entry);

class CatalogService {
 public:
  /// `repo` and `clock` must outlive the service; `hasher` holds the instance's pepper.
  CatalogService(store::CatalogRepository& repo, const Clock& clock, identity::CodeHasher hasher);

  /// The entry, or 404 CatalogEntryNotFound.
  Result<store::CatalogEntry> find(std::string_view device_id, std::string_view model_number);
  /// True when the entry needs no claim code, or `code` matches its stored hash (constant-time
  /// comparison). 404 CatalogEntryNotFound for an unknown entry.
  Result<bool> check_claim_code(std::string_view device_id, std::string_view model_number,
                                std::string_view code);
  /// Listed at all, and the CAs the serial's rows are bound to (JITR, pre-authorization).
  Result<store::CatalogBinding> binding(std::string_view device_id) {
    return repo_.binding(device_id);
  }
  Result<store::CatalogPage> list(int limit, const std::optional<std::string>& model_number,
                                  const std::optional<store::CatalogKey>& after);
  /// Validates and inserts; 409 CatalogEntryExists when the key exists.
  Result<store::CatalogEntry> create(const NewEntry& entry);
  /// 404 CatalogEntryNotFound when absent.
  Result<void> remove(std::string_view device_id, std::string_view model_number);
  /// Hashes the claim codes and writes every (already validated) entry in one transaction.
  Result<store::ImportCounts> import(const std::vector<NewEntry>& entries,
                                     store::ExistingEntries existing,
                                     const store::ImportProgress& progress = {});

  /// The stored form of a claim code for this key.
  std::string hash_claim_code(std::string_view device_id, std::string_view model_number,
                              std::string_view code) const;

 private:
  store::CatalogEntry to_row(const NewEntry& entry, std::int64_t now_ms) const;
  /// 422 InvalidCatalogEntry unless `ca_id` (normalized) is a registered, not deregistered CA.
  Result<void> check_bindable(const std::optional<std::string>& ca_id);

  store::CatalogRepository& repo_;
  const Clock& clock_;
  identity::CodeHasher hasher_;
};

/// {"deviceId","modelNumber","details","hasClaimCode","caId","createdAt","updatedAt"} (caId null
/// when unbound); never the claim code or its hash.
nlohmann::json to_json(const store::CatalogEntry& entry);

}  // namespace sp::catalog
