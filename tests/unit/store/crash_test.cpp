// kill -9 durability: a child process writes rows through write_async and reports every id whose
// on_done said "committed" on a pipe; the parent SIGKILLs it mid-stream and checks that every
// acknowledged id is in the database exactly once.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "store/sqlite/database.hpp"
#include "test_util.hpp"

namespace sp::sqlite {
namespace {

using test::TempDir;

const std::vector<Migration> kSchema = {
    {1, "0001_acked.sql",
     "CREATE TABLE acked(seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL, "
     "payload TEXT NOT NULL) STRICT;"},
};

[[noreturn]] void run_child(const std::filesystem::path& file, int ack_fd) {
  DatabaseConfig config;
  config.path = file;
  config.migrations = kSchema;
  config.synchronous = Synchronous::kFull;
  config.write_batch_max = 64;
  config.write_queue_max = 512;  // keeps the child from racing far ahead of the disk
  auto db = Database::open(config);
  if (!db) ::_exit(2);
  const std::string payload(200, 'p');
  for (std::int64_t id = 1;; ++id) {
    (*db)->write_async(
        [id, &payload](Connection& c) {
          return c.execute("INSERT INTO acked(id, payload) VALUES (?, ?)", id, payload);
        },
        [id, ack_fd](Result<void> result) {
          if (!result) ::_exit(3);
          // 8 bytes < PIPE_BUF: each write is atomic.
          if (::write(ack_fd, &id, sizeof id) != sizeof id) ::_exit(4);
        });
  }
}

TEST(CrashTest, EveryAcknowledgedRowSurvivesSigkill) {
  TempDir dir;
  const auto file = dir / "crash.db";
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    run_child(file, fds[1]);
  }
  ::close(fds[1]);

  std::vector<std::int64_t> acked;
  auto read_ack = [&]() -> bool {
    std::int64_t id = 0;
    ssize_t n;
    do {
      n = ::read(fds[0], &id, sizeof id);
    } while (n < 0 && errno == EINTR);
    if (n != sizeof id) return false;
    acked.push_back(id);
    return true;
  };
  // Kill after a few thousand acknowledgements: enough batches to land mid-transaction.
  constexpr std::size_t kKillAfter = 3000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (acked.size() < kKillAfter && std::chrono::steady_clock::now() < deadline) {
    if (!read_ack()) break;
  }
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  while (read_ack()) {
  }  // acknowledgements written before the kill
  ::close(fds[0]);
  ASSERT_GE(acked.size(), kKillAfter);

  auto conn = Connection::open(file, ConnectionOptions{.create = false});
  ASSERT_TRUE(conn) << conn.error().message;
  auto stmt = conn->prepare("SELECT count(*) FROM acked WHERE id = ?");
  ASSERT_TRUE(stmt);
  std::size_t missing = 0;
  std::size_t duplicated = 0;
  for (std::int64_t id : acked) {
    stmt->reset().bind(1, id);
    ASSERT_TRUE(stmt->step().value_or(false));
    const auto n = stmt->column<std::int64_t>(0);
    if (n == 0) ++missing;
    if (n > 1) ++duplicated;
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(duplicated, 0u);
  auto dups = conn->query_value<int>("SELECT count(*) - count(DISTINCT id) FROM acked");
  ASSERT_TRUE(dups);
  EXPECT_EQ(dups->value_or(-1), 0);
  auto total = conn->query_value<std::int64_t>("SELECT count(*) FROM acked");
  ASSERT_TRUE(total);
  EXPECT_GE(total->value_or(0), static_cast<std::int64_t>(acked.size()));
  auto integrity = conn->query_value<std::string>("PRAGMA integrity_check");
  ASSERT_TRUE(integrity);
  EXPECT_EQ(integrity->value_or(""), "ok");
}

}  // namespace
}  // namespace sp::sqlite
