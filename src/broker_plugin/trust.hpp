#pragma once
// Who issued a client certificate, decided by its signature (OpenSSL 3).
//
// mosquitto verifies the presented chain against everything in its cafile and capath, and then
// hands a plugin only the leaf (mosquitto_client_certificate), not the verified path. A leaf's
// Authority Key Identifier and issuer DN are written by whoever signed it, so the holder of any
// trusted CA key can name another CA (or the platform root) there. The trust store therefore uses
// AKI and issuer DN only to find *candidate* anchors, and accepts an anchor as the issuer only when
// its public key verifies the leaf's signature.
//
// Two kinds of anchors: service anchors (the platform root; they issue svc-backend & co) and device
// anchors (the registered device CAs: the certificates in the broker's capath directory). Leaves
// issued by an intermediate that is not itself an anchor are not attributed to any CA (the verified
// path is not available to a plugin), so they are refused.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tl/expected.hpp>

struct x509_st;

namespace sp::broker_plugin {

/// Loaded anchors with candidate indexes and a per-fingerprint cache of verdicts.
class TrustStore {
 public:
  /// `service_ca_file`: PEM file with the service anchors (one or more certificates).
  /// `device_ca_dir`: directory of device CA certificates (every regular file, symlinks followed,
  /// duplicates by fingerprint dropped; files that hold no certificate are skipped and reported in
  /// `warnings()`). Either may be empty: then that kind of identity has no anchor.
  static tl::expected<TrustStore, std::string> load(std::string service_ca_file,
                                                    std::string device_ca_dir);

  TrustStore();
  ~TrustStore();
  TrustStore(TrustStore&&) noexcept;
  TrustStore& operator=(TrustStore&&) noexcept;

  /// The anchor whose key verifies `leaf`'s signature, among the candidates named by the leaf's
  /// AKI or issuer DN, as its CA id (SKI in uppercase hex, or its subject DN in RFC 2253 when it
  /// has no SKI). std::nullopt when none verifies. `fingerprint` (SHA-256 of the leaf's DER) keys
  /// the cache. A device miss re-reads the directory if it changed since the last load.
  std::optional<std::string> verify_service(x509_st* leaf, const std::string& fingerprint);
  std::optional<std::string> verify_device(x509_st* leaf, const std::string& fingerprint);

  /// Re-reads the device directory (RELOAD, setState). Keeps the old anchors when it cannot be
  /// read. Clears the cache.
  tl::expected<void, std::string> reload_devices();

  std::size_t service_anchor_count() const;
  std::size_t device_anchor_count() const;
  const std::vector<std::string>& warnings() const;

  /// Signature verifications done (cache misses), for tests and the bench.
  std::uint64_t verifications() const;
  /// 0 disables the cache (bench). Default 100,000 entries; the cache is cleared when full.
  void set_cache_limit(std::size_t entries);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sp::broker_plugin
