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
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

struct CatalogPage {
  std::vector<CatalogEntry> items;
  std::optional<CatalogKey> next;  // set only when more rows exist
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
  /// True when the serial is in the catalog under any model number (JITR's check of a CN).
  virtual Result<bool> contains_device(std::string_view device_id) = 0;
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
