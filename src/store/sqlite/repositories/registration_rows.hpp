#pragma once
// Reading registration rows: shared by the device repository and fleet search, which select the
// same columns (alias r) and read them the same way.

#include "smartproduct/core/result.hpp"
#include "smartproduct/devices/types.hpp"
#include "store/sqlite/connection.hpp"

namespace sp::sqlite {

/// The columns read_registration() reads, from `registrations r`, in its order.
inline constexpr const char* kRegistrationColumns =
    "r.id, r.device_id, r.user_id, r.device_name, r.model_number, r.details, r.status, "
    "r.created_at, r.updated_at, r.activated_at, r.deleted_at";
inline constexpr int kRegistrationColumnCount = 11;

/// The registration in the statement's current row (columns 0..kRegistrationColumnCount-1);
/// store::Failure::kCorrupt when a stored value is invalid.
Result<devices::Registration> read_registration(const Statement& s);

/// A live registration with its connectivity: the columns read_device_summary() reads, and the
/// tables they come from (`registrations r` and `device_presence p`).
inline constexpr const char* kDeviceSummarySelect =
    "SELECT r.id, r.device_id, r.user_id, r.device_name, r.model_number, r.details, r.status, "
    "r.created_at, r.updated_at, r.activated_at, r.deleted_at, p.connected, p.since "
    "FROM registrations r LEFT JOIN device_presence p ON p.device_id = r.device_id";

/// The device summary in the current row of a kDeviceSummarySelect statement.
Result<devices::DeviceSummary> read_device_summary(const Statement& s);

}  // namespace sp::sqlite
