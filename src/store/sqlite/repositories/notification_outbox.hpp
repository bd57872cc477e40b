#pragma once
// For producers inside a write job of the main database: inserts one notification_outbox row in
// the job's (the producer's) transaction. Contract: include/smartproduct/notifications/outbox.hpp.

#include <cstdint>

#include "smartproduct/core/result.hpp"
#include "smartproduct/notifications/outbox.hpp"
#include "store/sqlite/connection.hpp"

namespace sp::sqlite {

/// The new row's id.
Result<std::int64_t> insert_outbox(Connection& conn, const notifications::OutboxMessage& m);

}  // namespace sp::sqlite
