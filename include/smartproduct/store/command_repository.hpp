#pragma once
// Storage of the commands module. create() writes the command, supersedes the device's older
// pending command for the same field, and applies the command's change to the device's shadow, in
// ONE transaction: either all of it is committed or none.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/commands/types.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/store/shadow_repository.hpp"

namespace sp::store {

/// Works out the shadow row to write from the stored one (nullopt: the device has none); runs
/// inside the create transaction on the writer thread, so it must only compute. An error rolls
/// the whole create back and is returned by create().
using ShadowEdit = std::function<Result<ShadowRecord>(const std::optional<ShadowRecord>& stored)>;

struct CommandCreated {
  commands::Command command;                  // with its seq
  std::vector<commands::Command> superseded;  // older pending commands it replaced
};

/// What a device's reply did.
enum class ReplyOutcome {
  kApplied,     // the pending command of that device moved to the reply's status
  kUnknown,     // no command with this id
  kForeign,     // the id belongs to another device
  kNotPending,  // the command already finished (or expired)
};

struct ReplyResult {
  ReplyOutcome outcome = ReplyOutcome::kUnknown;
  std::optional<commands::Command> command;  // the updated row when applied
};

class CommandRepository {
 public:
  virtual ~CommandRepository() = default;

  /// Inserts `command` (status pending), marks the device's pending command with the same field
  /// `superseded`, and writes edit(stored shadow row) to the shadows table, in one transaction.
  virtual Result<CommandCreated> create(const commands::Command& command,
                                        const ShadowEdit& edit) = 0;

  /// The command `id` of `device_id`; nullopt when there is none (or it is another device's).
  virtual Result<std::optional<commands::Command>> find(std::string_view device_id,
                                                        std::string_view id) = 0;

  /// Newest first, at most `limit` rows after `after`; `owner` (when set) keeps only the rows
  /// sent under that user's registrations; `status` filters.
  virtual Result<std::vector<commands::Command>> list(
      std::string_view device_id, const std::optional<std::string>& owner,
      std::optional<commands::CommandStatus> status, int limit,
      const std::optional<commands::CommandKey>& after) = 0;

  /// Moves the command `id` of `device_id` to `status` with `reason` if it is still pending and
  /// not expired at `now_ms`.
  virtual Result<ReplyResult> complete(std::string_view device_id, std::string_view id,
                                       commands::CommandStatus status, std::string_view reason,
                                       std::int64_t now_ms) = 0;

  /// Marks every pending command whose expires_at <= now_ms failed with reason "timeout";
  /// returns them as updated.
  virtual Result<std::vector<commands::Command>> expire(std::int64_t now_ms) = 0;

  /// Marks every pending command of `device_id` failed with `reason` (the device was deleted);
  /// returns them as updated.
  virtual Result<std::vector<commands::Command>> fail_pending(std::string_view device_id,
                                                              std::string_view reason,
                                                              std::int64_t now_ms) = 0;

  /// The device's pending commands that have not expired at now_ms, oldest first.
  virtual Result<std::vector<commands::Command>> pending(std::string_view device_id,
                                                         std::int64_t now_ms) = 0;
};

}  // namespace sp::store
