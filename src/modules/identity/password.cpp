#include "smartproduct/identity/password.hpp"

#include <sodium.h>

#include <mutex>
#include <stdexcept>
#include <string>

#include "sodium_init.hpp"

namespace sp::identity {

static_assert(PasswordHashParams{}.opslimit == crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
static_assert(PasswordHashParams{}.memlimit == crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);

namespace detail {
void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) throw std::runtime_error("libsodium initialisation failed");
  });
}
}  // namespace detail

PasswordHasher::PasswordHasher(PasswordHashParams params) : params_(params) {
  detail::ensure_sodium();
  if (params_.opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
      params_.opslimit > crypto_pwhash_argon2id_OPSLIMIT_MAX ||
      params_.memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
      params_.memlimit > crypto_pwhash_argon2id_MEMLIMIT_MAX) {
    throw std::invalid_argument("Argon2id opslimit/memlimit out of range");
  }
}

Result<std::string> PasswordHasher::hash(std::string_view password) const {
  if (password.size() > kMaxPasswordBytes) {
    return fail(ErrorKind::kUnprocessable, "PasswordTooLong", "The password is too long.");
  }
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), params_.opslimit,
                            params_.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return fail(ErrorKind::kUnavailable, "PasswordHashUnavailable",
                "The server is busy, try again.", "crypto_pwhash_str_alg failed (memory)");
  }
  return std::string(out);
}

bool PasswordHasher::verify(std::string_view hash, std::string_view password) const {
  if (password.size() > kMaxPasswordBytes) return false;
  // crypto_pwhash_str_verify wants a NUL-terminated string of at most STRBYTES - 1 characters.
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  const std::string terminated(hash);
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

bool PasswordHasher::needs_rehash(std::string_view hash) const {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return true;
  const std::string terminated(hash);
  // The argon2id-specific check also reports argon2i hashes (valid, but another algorithm) as
  // needing a rehash; the generic function would accept them at matching params.
  return crypto_pwhash_argon2id_str_needs_rehash(terminated.c_str(), params_.opslimit,
                                                 params_.memlimit) != 0;
}

void PasswordHasher::dummy_verify(std::string_view password) const {
  // The first call makes a real hash at the configured cost (what a verify costs: same params,
  // same work) and the later ones verify against it, so every call costs one Argon2id run.
  bool made_now = false;
  std::call_once(dummy_once_, [&] {
    static constexpr char kDummy[] = "smartproduct dummy password";
    if (auto h = hash(kDummy)) dummy_hash_ = std::move(*h);
    made_now = true;
  });
  if (!made_now) (void)verify(dummy_hash_, password.substr(0, kMaxPasswordBytes));
}

}  // namespace sp::identity
