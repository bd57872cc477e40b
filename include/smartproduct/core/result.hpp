#pragma once
// Result and error types shared by every service. Services never throw for expected failures; they
// return Result<T>. The error kind maps to an HTTP status in exactly one place (http_status()).

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace sp {

/// What went wrong, in terms a client can act on. Mapped to HTTP by http_status().
enum class ErrorKind {
  kBadRequest,            // 400 malformed input (unparsable JSON, wrong type)
  kUnauthenticated,       // 401 no/invalid/expired credentials
  kForbidden,             // 403 authenticated, but not allowed (someone else's resource)
  kNotFound,              // 404 unknown id or route
  kMethodNotAllowed,      // 405
  kConflict,              // 409 already exists / state conflict
  kPayloadTooLarge,       // 413
  kUnsupportedMediaType,  // 415 a body in another format than the route takes
  kUnprocessable,         // 422 well-formed but invalid value
  kRateLimited,           // 429
  kUnavailable,           // 503 a dependency (database, broker) is not ready
  kInternal,              // 500 a bug; never used for expected failures
};

/// An error a service returns. `name` is the stable PascalCase code clients see (the seed's `error`
/// field, e.g. "DeviceNotFoundFailure"); `message` is safe to show; `detail` is only logged.
struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string name;
  std::string message;
  std::string detail;
};

template <class T>
using Result = tl::expected<T, Error>;

/// Shorthand for returning an error from a function that returns Result<T>.
inline tl::unexpected<Error> fail(ErrorKind kind, std::string name, std::string message,
                                  std::string detail = {}) {
  return tl::unexpected<Error>(Error{kind, std::move(name), std::move(message), std::move(detail)});
}

/// The single table from error kinds to HTTP status codes.
constexpr int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kBadRequest:
      return 400;
    case ErrorKind::kUnauthenticated:
      return 401;
    case ErrorKind::kForbidden:
      return 403;
    case ErrorKind::kNotFound:
      return 404;
    case ErrorKind::kMethodNotAllowed:
      return 405;
    case ErrorKind::kConflict:
      return 409;
    case ErrorKind::kPayloadTooLarge:
      return 413;
    case ErrorKind::kUnsupportedMediaType:
      return 415;
    case ErrorKind::kUnprocessable:
      return 422;
    case ErrorKind::kRateLimited:
      return 429;
    case ErrorKind::kUnavailable:
      return 503;
    case ErrorKind::kInternal:
      return 500;
  }
  return 500;
}

}  // namespace sp
