#pragma once
// The JWT signing keys of an instance, kept as files in one directory (default <data_dir>/keys):
//
//   keys.json         manifest: {"active": kid, "keys": [{"kid","alg","createdAt","retireAt"}]}
//   jwt-<kid>.pem     PKCS#8 private key of each listed key (mode 0600)
//   code-pepper       the secret of CodeHasher (one-time code HMAC; mode 0600)
//
// Rotation adds a key and makes it active; the previous active key gets retireAt = now + the
// longest access-token lifetime (+ leeway), and until then its public key stays in the JWKS and
// keeps verifying. Keys past retireAt are dropped from the manifest and their files deleted at the
// next rotation. Writers (daemon start, `smartproductctl keys rotate`) serialise on an flock and
// replace keys.json atomically (write + fsync + rename), so a reader never sees half a manifest.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/jws.hpp"

namespace sp::identity {

struct KeyInfo {
  std::string kid;
  Algorithm algorithm = Algorithm::kEs256;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> retire_at;  // unset for the active key
  bool active = false;
};

class KeyStore {
 public:
  explicit KeyStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  /// Creates the directory (0700) and a first active key when there is none. Idempotent.
  Result<void> ensure(Algorithm algorithm, std::int64_t now);
  /// Generates a new active key; the old active key retires at now + retire_after_s.
  Result<KeyInfo> rotate(Algorithm algorithm, std::int64_t now, std::int64_t retire_after_s);
  /// The manifest's keys (active first, then newest first). Empty when there is no manifest.
  Result<std::vector<KeyInfo>> list() const;
  /// Makes `ring` match the store at `now`: the active key signs, keys not yet retired verify,
  /// every other key is removed from the ring.
  Result<void> load_into(KeyRing& ring, std::int64_t now) const;
  /// Reads the pepper, creating it (32 random bytes, hex, 0600) when missing.
  Result<std::string> load_or_create_pepper();

  /// A cheap fingerprint of the manifest (mtime and size) to notice a rotation by another process.
  std::string manifest_stamp() const;

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

}  // namespace sp::identity
