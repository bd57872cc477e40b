#pragma once
// The identity module's account-mail outbox (table account_mail_outbox, migration 0015).

#include <memory>

#include "smartproduct/store/account_mail_outbox.hpp"
#include "store/sqlite/database.hpp"

namespace sp::sqlite {

std::unique_ptr<store::AccountMailOutbox> make_account_mail_outbox(
    std::shared_ptr<Database> main_db);

}  // namespace sp::sqlite
