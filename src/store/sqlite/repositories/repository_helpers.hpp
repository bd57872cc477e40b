#pragma once
// Small helpers shared by the SQLite repositories.

#include "smartproduct/core/result.hpp"

namespace sp::sqlite {

/// Passes the error of a failed step on as the error of the enclosing function's Result.
template <class T>
tl::unexpected<Error> forward(const Result<T>& r) {
  return tl::unexpected<Error>(r.error());
}

}  // namespace sp::sqlite
