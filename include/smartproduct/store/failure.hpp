#pragma once
// Typed failures of the store. Repositories say what went wrong in storage terms (not found,
// conflict, unavailable, ...) and never word an answer for a client: the service that called
// them picks the API error (smartproduct/http/errors.hpp), e.g. a kConflict on a registration
// insert becomes DeviceRegisteredFailure. A store failure a service does not map is answered as
// StoreUnavailable (503) or InternalError (500) by errors::from_store(), with the store's cause
// in the logged-only detail.
//
// A failure travels in the usual Result<T>'s Error: `name` is the store code below (or one of the
// SQLite adapter's Database* codes), `message` a short description for logs, `detail` the cause.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "smartproduct/core/result.hpp"

namespace sp::store {

enum class Failure {
  kNotFound,         // the row the operation needs does not exist (any more)
  kConflict,         // a uniqueness rule or the row's state refuses the change
  kUnavailable,      // the database is busy, closed or cannot be opened: try again later
  kCorrupt,          // a stored value cannot be read back (bad JSON, unknown enum text)
  kInvalidArgument,  // the caller broke the interface's contract (a bug in the caller)
  kInternal,         // any other storage error
};

/// The Error name of a failure raised by a repository.
constexpr std::string_view failure_name(Failure f) {
  switch (f) {
    case Failure::kNotFound:
      return "StoreNotFound";
    case Failure::kConflict:
      return "StoreConflict";
    case Failure::kUnavailable:
      return "StoreUnavailableFailure";
    case Failure::kCorrupt:
      return "StoreCorrupt";
    case Failure::kInvalidArgument:
      return "StoreInvalidArgument";
    case Failure::kInternal:
      return "StoreInternal";
  }
  return "StoreInternal";
}

/// The ErrorKind that keeps kind-based checks in callers (e.g. "kConflict: retry later") working.
constexpr ErrorKind failure_kind(Failure f) {
  switch (f) {
    case Failure::kNotFound:
      return ErrorKind::kNotFound;
    case Failure::kConflict:
      return ErrorKind::kConflict;
    case Failure::kUnavailable:
      return ErrorKind::kUnavailable;
    case Failure::kCorrupt:
    case Failure::kInvalidArgument:
    case Failure::kInternal:
      return ErrorKind::kInternal;
  }
  return ErrorKind::kInternal;
}

/// A repository's failure: `what` says what failed (for logs), `detail` the underlying cause.
inline tl::unexpected<Error> fail(Failure f, std::string what, std::string detail = {}) {
  return tl::unexpected<Error>(
      Error{failure_kind(f), std::string(failure_name(f)), std::move(what), std::move(detail)});
}

/// The failure an error from the store stands for, or nullopt when it is not a store failure.
/// Besides the codes above this classifies the SQLite adapter's own codes (Database*).
inline std::optional<Failure> failure_of(const Error& e) {
  for (auto f : {Failure::kNotFound, Failure::kConflict, Failure::kUnavailable, Failure::kCorrupt,
                 Failure::kInvalidArgument, Failure::kInternal}) {
    if (e.name == failure_name(f)) return f;
  }
  if (e.name == "DatabaseConstraint") return Failure::kConflict;
  if (e.name == "DatabaseBusy" || e.name == "DatabaseOpenFailed" || e.name == "DatabaseClosed") {
    return Failure::kUnavailable;
  }
  if (e.name.starts_with("Database")) return Failure::kInternal;
  return std::nullopt;
}

}  // namespace sp::store
