#pragma once
// base64url without padding (RFC 7515 §2, RFC 4648 §5) with strict decoding.

#include <optional>
#include <string>
#include <string_view>

namespace sp::identity {

/// Encodes bytes as base64url without '=' padding.
std::string base64url_encode(std::string_view bytes);

/// Decodes unpadded base64url. Returns nullopt for padding, characters outside the base64url
/// alphabet (including whitespace), an impossible length (len % 4 == 1) and non-canonical input
/// (unused trailing bits not zero), so every byte string has exactly one accepted encoding.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace sp::identity
