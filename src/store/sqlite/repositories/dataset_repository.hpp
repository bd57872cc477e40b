#pragma once
// The datasets module's storage (definitions, runs) in smartproduct.db and its reads of
// telemetry.db. Kept out of repositories.hpp so that adding it does not rebuild every module.

#include <memory>

#include "smartproduct/store/dataset_repository.hpp"
#include "store/sqlite/database.hpp"

namespace sp::sqlite {

std::unique_ptr<store::DatasetRepository> make_dataset_repository(
    std::shared_ptr<Database> main_db);
std::unique_ptr<store::DatasetSource> make_dataset_source(std::shared_ptr<Database> telemetry_db);

}  // namespace sp::sqlite
