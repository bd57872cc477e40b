#pragma once
// The detect module's storage in smartproduct.db. Kept out of repositories.hpp so that adding it
// does not rebuild every module.

#include <memory>

#include "smartproduct/store/detect_repository.hpp"
#include "store/sqlite/database.hpp"

namespace sp::sqlite {

std::unique_ptr<store::DetectRepository> make_detect_repository(std::shared_ptr<Database> main_db);

}  // namespace sp::sqlite
