#include "trust.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <unordered_set>

#include "cert_info.hpp"
#include "smartproduct/core/openssl_ptr.hpp"

namespace sp::broker_plugin {
namespace {

namespace fs = std::filesystem;

std::string aki_hex(const X509* cert) {
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(const_cast<X509*>(cert));
  if (aki == nullptr) return {};
  return hex_upper(ASN1_STRING_get0_data(aki), static_cast<std::size_t>(ASN1_STRING_length(aki)));
}

std::string ski_hex(const X509* cert) {
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(const_cast<X509*>(cert));
  if (ski == nullptr) return {};
  return hex_upper(ASN1_STRING_get0_data(ski), static_cast<std::size_t>(ASN1_STRING_length(ski)));
}

// Every certificate in a PEM text (other PEM blocks, e.g. keys, are not expected and end the read).
std::vector<ossl::X509Ptr> read_pem_certs(const std::string& text) {
  std::vector<ossl::X509Ptr> out;
  ossl::BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return out;
  for (;;) {
    ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    out.push_back(std::move(cert));
  }
  ERR_clear_error();  // the read that ends the loop leaves "no start line" behind
  return out;
}

tl::expected<std::string, std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected("cannot read " + path.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return tl::unexpected("cannot read " + path.string());
  return text;
}

struct Anchor {
  ossl::X509Ptr cert;
  std::string id;  // SKI hex, or the subject DN when the CA has no SKI
  std::string fingerprint;
};

class AnchorSet {
 public:
  // Only CA certificates become anchors: a leaf in the directory must not "issue" anything.
  bool add(ossl::X509Ptr cert) {
    if (X509_check_ca(cert.get()) < 1 || X509_get0_pubkey(cert.get()) == nullptr) return false;
    Anchor a;
    a.fingerprint = sha256_fingerprint(cert.get());
    if (!seen_.insert(a.fingerprint).second) return true;
    const std::string ski = ski_hex(cert.get());
    const std::string subject = name_rfc2253(X509_get_subject_name(cert.get()));
    a.id = ski.empty() ? subject : ski;
    a.cert = std::move(cert);
    const std::size_t index = anchors_.size();
    anchors_.push_back(std::move(a));
    if (!ski.empty()) by_ski_.emplace(ski, index);
    if (!subject.empty()) by_subject_.emplace(subject, index);
    return true;
  }

  std::size_t size() const { return anchors_.size(); }

  // The first candidate (by AKI, then by issuer DN) whose key verifies the leaf's signature.
  std::optional<std::string> find(X509* leaf, std::uint64_t& verifications) const {
    std::vector<std::size_t> candidates;
    const auto collect = [&](const auto& index, const std::string& key) {
      if (key.empty()) return;
      auto [b, e] = index.equal_range(key);
      for (auto it = b; it != e; ++it) {
        if (std::find(candidates.begin(), candidates.end(), it->second) == candidates.end()) {
          candidates.push_back(it->second);
        }
      }
    };
    collect(by_ski_, aki_hex(leaf));
    collect(by_subject_, name_rfc2253(X509_get_issuer_name(leaf)));
    for (const std::size_t i : candidates) {
      const Anchor& a = anchors_[i];
      // An expired or not yet valid anchor issues nothing (TLS checks only the path it built).
      if (X509_cmp_current_time(X509_get0_notAfter(a.cert.get())) <= 0 ||
          X509_cmp_current_time(X509_get0_notBefore(a.cert.get())) >= 0) {
        continue;
      }
      ++verifications;
      const int ok = X509_verify(leaf, X509_get0_pubkey(a.cert.get()));
      ERR_clear_error();
      if (ok == 1) return a.id;
    }
    return std::nullopt;
  }

 private:
  std::vector<Anchor> anchors_;
  std::unordered_set<std::string> seen_;
  std::unordered_multimap<std::string, std::size_t> by_ski_;
  std::unordered_multimap<std::string, std::size_t> by_subject_;
};

// Identity of the directory's contents: adding or removing a file (openssl rehash, install by
// rename) changes the directory's mtime.
struct DirStamp {
  bool valid = false;
  ino_t ino = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const DirStamp&) const = default;
};

DirStamp stamp_of(const std::string& dir) {
  struct stat st {};
  if (dir.empty() || ::stat(dir.c_str(), &st) != 0) return {};
  return {true, st.st_ino,
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

tl::expected<AnchorSet, std::string> load_dir(const std::string& dir,
                                              std::vector<std::string>& warnings) {
  AnchorSet set;
  if (dir.empty()) return set;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return tl::unexpected("cannot read device CA directory " + dir + ": " + ec.message());
  std::vector<fs::path> files;
  for (const auto& entry : it) {
    std::error_code fec;
    if (entry.is_regular_file(fec)) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());  // deterministic order of equal candidates
  for (const auto& file : files) {
    auto text = read_text(file);
    if (!text) {
      warnings.push_back(text.error());
      continue;
    }
    auto certs = read_pem_certs(*text);
    if (certs.empty()) warnings.push_back(file.string() + " holds no PEM certificate (ignored)");
    for (auto& c : certs) {
      if (!set.add(std::move(c))) {
        warnings.push_back(file.string() + ": a certificate that is not a CA (ignored)");
      }
    }
  }
  return set;
}

using Cache = std::unordered_map<std::string, std::optional<std::string>>;

}  // namespace

struct TrustStore::Impl {
  std::string service_file;
  std::string device_dir;
  AnchorSet service;
  AnchorSet device;
  DirStamp device_stamp;
  Cache service_cache;
  Cache device_cache;
  std::size_t cache_limit = 100'000;
  std::uint64_t verifications = 0;
  std::vector<std::string> warnings;

  std::optional<std::string> lookup(AnchorSet& set, Cache& cache, X509* leaf,
                                    const std::string& fp) {
    if (cache_limit > 0 && !fp.empty()) {
      if (auto it = cache.find(fp); it != cache.end()) return it->second;
    }
    auto found = set.find(leaf, verifications);
    if (cache_limit > 0 && !fp.empty()) {
      // Distinct certificates are unbounded (anyone can present new ones): bound the memory.
      if (cache.size() >= cache_limit) cache.clear();
      cache.emplace(fp, found);
    }
    return found;
  }
};

TrustStore::TrustStore() : impl_(std::make_unique<Impl>()) {}
TrustStore::~TrustStore() = default;
TrustStore::TrustStore(TrustStore&&) noexcept = default;
TrustStore& TrustStore::operator=(TrustStore&&) noexcept = default;

tl::expected<TrustStore, std::string> TrustStore::load(std::string service_ca_file,
                                                       std::string device_ca_dir) {
  TrustStore ts;
  auto& d = *ts.impl_;
  d.service_file = std::move(service_ca_file);
  d.device_dir = std::move(device_ca_dir);
  if (!d.service_file.empty()) {
    auto text = read_text(d.service_file);
    if (!text) return tl::unexpected(text.error());
    for (auto& c : read_pem_certs(*text)) {
      if (!d.service.add(std::move(c))) {
        return tl::unexpected(d.service_file + " holds a certificate that is not a CA");
      }
    }
    if (d.service.size() == 0) return tl::unexpected(d.service_file + " holds no certificate");
  }
  d.device_stamp = stamp_of(d.device_dir);
  auto devices = load_dir(d.device_dir, d.warnings);
  if (!devices) return tl::unexpected(devices.error());
  d.device = std::move(*devices);
  return ts;
}

std::optional<std::string> TrustStore::verify_service(x509_st* leaf,
                                                      const std::string& fingerprint) {
  if (leaf == nullptr) return std::nullopt;
  return impl_->lookup(impl_->service, impl_->service_cache, leaf, fingerprint);
}

std::optional<std::string> TrustStore::verify_device(x509_st* leaf,
                                                     const std::string& fingerprint) {
  if (leaf == nullptr) return std::nullopt;
  auto& d = *impl_;
  if (auto found = d.lookup(d.device, d.device_cache, leaf, fingerprint)) return found;
  // A CA registered a moment ago is in the directory (TLS found it) but not loaded yet.
  if (stamp_of(d.device_dir) == d.device_stamp) return std::nullopt;
  if (!reload_devices()) return std::nullopt;
  return d.lookup(d.device, d.device_cache, leaf, fingerprint);
}

tl::expected<void, std::string> TrustStore::reload_devices() {
  auto& d = *impl_;
  const DirStamp stamp = stamp_of(d.device_dir);
  std::vector<std::string> warnings;
  auto devices = load_dir(d.device_dir, warnings);
  if (!devices) return tl::unexpected(devices.error());
  d.device = std::move(*devices);
  d.device_stamp = stamp;
  d.warnings = std::move(warnings);
  d.device_cache.clear();
  return {};
}

std::size_t TrustStore::service_anchor_count() const { return impl_->service.size(); }
std::size_t TrustStore::device_anchor_count() const { return impl_->device.size(); }
const std::vector<std::string>& TrustStore::warnings() const { return impl_->warnings; }
std::uint64_t TrustStore::verifications() const { return impl_->verifications; }

void TrustStore::set_cache_limit(std::size_t entries) {
  impl_->cache_limit = entries;
  impl_->service_cache.clear();
  impl_->device_cache.clear();
}

}  // namespace sp::broker_plugin
