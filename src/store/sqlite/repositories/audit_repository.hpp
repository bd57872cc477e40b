#pragma once
// The audit module's storage (runs, findings) and its snapshot queries, in smartproduct.db. Kept
// out of repositories.hpp so that adding it does not rebuild every module (they all include that
// one).

#include <memory>

#include "smartproduct/store/audit_repository.hpp"
#include "store/sqlite/database.hpp"

namespace sp::sqlite {

std::unique_ptr<store::AuditRepository> make_audit_repository(std::shared_ptr<Database> main_db);

}  // namespace sp::sqlite
