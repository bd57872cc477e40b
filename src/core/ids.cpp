#include "smartproduct/core/ids.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace sp::ids {
namespace {

void fill_random(unsigned char* out, std::size_t n) {
  // RAND_bytes only fails when the CSPRNG cannot be seeded: a broken host, not a client error.
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("CSPRNG unavailable");
}

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

std::string uuid_v4() {
  unsigned char b[16];
  fill_random(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0F]);
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  fill_random(b.data(), bytes);
  std::string out;
  out.reserve(bytes * 2);
  for (auto c : b) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0F]);
  }
  return out;
}

}  // namespace sp::ids
