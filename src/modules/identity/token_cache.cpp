#include "smartproduct/identity/token_cache.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

#include <openssl/sha.h>

namespace sp::identity {

VerifiedTokenCache::VerifiedTokenCache(std::size_t capacity)
    : capacity_(std::max<std::size_t>(1, capacity)) {}

VerifiedTokenCache::Digest VerifiedTokenCache::digest(std::string_view token) {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d.data());
  return d;
}

std::size_t VerifiedTokenCache::DigestHash::operator()(const Digest& d) const noexcept {
  // The digest is already uniformly distributed; equality still compares all 32 bytes.
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

std::shared_ptr<const VerifiedTokenCache::Entry> VerifiedTokenCache::find(std::string_view token,
                                                                          std::int64_t now) const {
  const Digest key = digest(token);
  {
    std::shared_lock lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    if (now < it->second->refuse_from) return it->second;
  }
  std::unique_lock lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end() && now >= it->second->refuse_from) {
    entries_.erase(it);
  }
  return nullptr;
}

void VerifiedTokenCache::insert(std::string_view token, Entry entry, std::int64_t now) {
  if (now >= entry.refuse_from) return;
  auto value = std::make_shared<const Entry>(std::move(entry));
  const Digest key = digest(token);
  std::unique_lock lock(mu_);
  if (entries_.size() >= capacity_ && !entries_.contains(key)) {
    std::erase_if(entries_, [now](const auto& kv) { return now >= kv.second->refuse_from; });
    if (entries_.size() >= capacity_) entries_.clear();
  }
  entries_.insert_or_assign(key, std::move(value));
}

void VerifiedTokenCache::erase(std::string_view token) {
  const Digest key = digest(token);
  std::unique_lock lock(mu_);
  entries_.erase(key);
}

std::size_t VerifiedTokenCache::size() const {
  std::shared_lock lock(mu_);
  return entries_.size();
}

}  // namespace sp::identity
