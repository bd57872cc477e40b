#pragma once
// The shadows table's row code, shared by the shadow repository and the commands repository (which
// writes a command's desired change in the same transaction as the command row).

#include <optional>
#include <string_view>

#include "smartproduct/core/result.hpp"
#include "smartproduct/store/shadow_repository.hpp"
#include "store/sqlite/connection.hpp"

namespace sp::sqlite {

/// The row (live or tombstone), or nullopt if the device never had a shadow.
Result<std::optional<store::ShadowRecord>> select_shadow_row(Connection& conn,
                                                             std::string_view device_id);

/// Writes `record` if the stored row still carries `expected` (nullopt: only if there is no row);
/// false, changing nothing, when it does not. Run inside a write job: the single writer makes the
/// statement's WHERE (or ON CONFLICT) the compare of a compare-and-set.
Result<bool> write_shadow_row(Connection& conn, const store::ShadowRecord& record,
                              const std::optional<store::ShadowStamp>& expected);

}  // namespace sp::sqlite
