#pragma once
// The devices module's per-serial claim attempt counter (table claim_failures, migration 0016).

#include <memory>

#include "smartproduct/devices/claim_limits.hpp"
#include "store/sqlite/database.hpp"

namespace sp::sqlite {

std::unique_ptr<devices::ClaimAttemptCounter> make_claim_attempt_counter(
    std::shared_ptr<Database> main_db);

}  // namespace sp::sqlite
