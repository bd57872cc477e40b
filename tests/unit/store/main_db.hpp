#pragma once
// A fresh main database (smartproduct.db with every migration) for repository and service tests.

#include <memory>

#include <gtest/gtest.h>

#include "store/sqlite/database.hpp"
#include "store/sqlite/migrations.hpp"
#include "test_util.hpp"

namespace sp::sqlite::test {

/// Opens `dir`/smartproduct.db; records a test failure and returns nullptr on error.
inline std::shared_ptr<Database> open_main_database(const TempDir& dir) {
  DatabaseConfig config;
  config.path = dir / "smartproduct.db";
  config.migrations = embedded_migrations("main");
  auto db = Database::open(std::move(config));
  if (!db) {
    ADD_FAILURE() << db.error().message;
    return nullptr;
  }
  return *db;
}

}  // namespace sp::sqlite::test
