#pragma once
// Storage of the catalog module: the seed's Reference table, keyed by (deviceId, modelNumber), plus
// an optional claim-code hash. Times: epoch ms.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"

namespace sp::store {

/// The primary key of a catalog entry; also the position after the last row of a page.
struct CatalogKey {
  std::string device_id;
  std::string model_number;
  bool operator==(const CatalogKey&) const = default;
};

struct CatalogEntry {
  std::string device_id;
  std::string model_number;
  nlohmann::json details = nlohmann::json::object();
  /// Keyed hash of the claim code (never the code itself); nullopt when the entry has none.
  std::optional<std::string> claim_code_hash;
  /// The registered CA (its id) whose certificates alone may activate this serial; nullopt: any.
  std::optional<std::string> ca_id;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

struct CatalogPage {
  std::vector<CatalogEntry> items;
  std::optional<CatalogKey> next;  // set only when more rows exist
};

/// What the catalog says about a serial, for JITR: listed under any model number, and the CAs its
/// rows are bound to (empty: unbound, any auto-registering CA may activate it).
struct CatalogBinding {
  bool listed = false;
  std::vector<std::string> ca_ids;
  /// True when a certificate of `ca_id` may activate the serial (listed, and unbound or bound to
  /// that CA).
  bool admits(std::string_view ca_id) const {
    if (!listed) return false;
    if (ca_ids.empty()) return true;
    for (const auto& id : ca_ids)
      if (id == ca_id) return true;
    return false;
  }
};

/// What a bulk import does with an entry whose key already exists.
enum class ExistingEntries { kSkip, kReplace };

struct ImportCounts {
  std::size_t inserted = 0;
  std::size_t replaced = 0;
  std::size_t skipped = 0;
};

/// Called during a bulk import with (rows done, rows total); may be empty.
using ImportProgress = std::function<void(std::size_t, std::size_t)>;

class CatalogRepository {
 public:
  virtual ~CatalogRepository() = default;

  virtual Result<std::optional<CatalogEntry>> find(std::string_view device_id,
                                                   std::string_view model_number) = 0;
  /// The serial's catalog rows: listed at all, and the distinct CA ids they are bound to.
  virtual Result<CatalogBinding> binding(std::string_view device_id) = 0;
  /// True when `ca_id` names a registered CA that is not deregistered (a catalog row may be
  /// bound to it).
  virtual Result<bool> ca_bindable(std::string_view ca_id) = 0;
  /// Inserts unless the key exists; returns false (nothing changed) when it does.
  virtual Result<bool> insert(const CatalogEntry& entry) = 0;
  /// Returns false if there was no such row.
  virtual Result<bool> remove(std::string_view device_id, std::string_view model_number) = 0;
  /// Rows ordered by (deviceId, modelNumber), optionally only one model number, starting after
  /// `after`. `limit` >= 1.
  virtual Result<CatalogPage> list(int limit, const std::optional<std::string>& model_number,
                                   const std::optional<CatalogKey>& after) = 0;
  /// Writes every entry in ONE transaction (all or none on a storage error). Entries' timestamps
  /// are used as given; a replaced row keeps its created_at.
  virtual Result<ImportCounts> import(const std::vector<CatalogEntry>& entries,
                                      ExistingEntries existing, const ImportProgress& progress) = 0;
};

}  // namespace sp::store
