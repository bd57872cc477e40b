#pragma once
#include <cstddef>
#include <string>

namespace sp::ids {

/// Random RFC 4122 version 4 UUID, lower-case, from the OS CSPRNG.
std::string uuid_v4();

/// `bytes` random bytes from the CSPRNG, hex-encoded (lower-case).
std::string random_hex(std::size_t bytes);

}  // namespace sp::ids
