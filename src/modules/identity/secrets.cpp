#include "smartproduct/identity/secrets.hpp"

#include <sodium.h>

#include <stdexcept>
#include <string>

#include "smartproduct/identity/base64url.hpp"
#include "sodium_init.hpp"

namespace sp::identity {
namespace {

std::string to_hex(const unsigned char* data, std::size_t len) {
  std::string out(len * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, len);
  out.pop_back();  // the terminating NUL written by sodium_bin2hex
  return out;
}

std::string random_bytes(std::size_t n) {
  detail::ensure_sodium();
  std::string out(n, '\0');
  randombytes_buf(out.data(), out.size());
  return out;
}

void hmac_field(crypto_auth_hmacsha256_state& st, std::string_view field) {
  // Length-prefix each field so ("ab","c") and ("a","bc") hash differently.
  unsigned char len[8];
  std::uint64_t n = field.size();
  for (int i = 7; i >= 0; --i) {
    len[i] = static_cast<unsigned char>(n & 0xFF);
    n >>= 8;
  }
  crypto_auth_hmacsha256_update(&st, len, sizeof len);
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(field.data()),
                                field.size());
}

}  // namespace

std::string generate_refresh_token() { return generate_random_id(32); }

std::string generate_random_id(std::size_t bytes) {
  std::string raw = random_bytes(bytes);
  std::string out = base64url_encode(raw);
  sodium_memzero(raw.data(), raw.size());
  return out;
}

std::string hash_token(std::string_view token) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return to_hex(digest, sizeof digest);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  detail::ensure_sodium();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string generate_numeric_code(int digits) {
  if (digits < 1 || digits > 9) throw std::invalid_argument("digits must be 1..9");
  detail::ensure_sodium();
  std::uint32_t bound = 1;
  for (int i = 0; i < digits; ++i) bound *= 10;
  // randombytes_uniform rejects the biased top of the 32-bit range: every code is equally likely.
  std::uint32_t value = randombytes_uniform(bound);
  std::string out(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out;
}

CodeHasher::CodeHasher(std::string pepper) : pepper_(std::move(pepper)) {
  if (pepper_.size() < 32) throw std::invalid_argument("code pepper must be at least 32 bytes");
  detail::ensure_sodium();
}

std::string CodeHasher::generate_pepper() { return random_bytes(32); }

std::string CodeHasher::hash(std::string_view purpose, std::string_view account,
                             std::string_view code) const {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(pepper_.data()),
                              pepper_.size());
  hmac_field(st, purpose);
  hmac_field(st, account);
  hmac_field(st, code);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_memzero(&st, sizeof st);
  return to_hex(mac, sizeof mac);
}

bool CodeHasher::verify(std::string_view purpose, std::string_view account, std::string_view code,
                        std::string_view stored_hash) const {
  return constant_time_equal(hash(purpose, account, code), stored_hash);
}

}  // namespace sp::identity
