#pragma once
// Inside a write job: moves the 'spool' row of ingest_position from mark.after to mark.position,
// or fails (kUnavailable) when it is not at mark.after (a record before it was not committed).

#include "smartproduct/core/device_message.hpp"
#include "smartproduct/core/result.hpp"
#include "store/sqlite/connection.hpp"

namespace sp::sqlite {

Result<void> advance_spool_position(Connection& conn, const SpoolMark& mark);

}  // namespace sp::sqlite
