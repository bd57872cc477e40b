#pragma once
// The chunked state sync of the broker plugin (command `stateChunk`, contract in
// src/broker_plugin/README.md), defined once for both ends: the daemon splits its whole state
// into chunks that fit mosquitto's max_packet_size, the plugin stages them and swaps its state
// only when the last chunk of the generation arrives with the checksum of everything sent.
// Header-only and free of dependencies, like protocol.hpp.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sp::broker {

inline constexpr std::string_view kStateChunkCommand = "stateChunk";

/// The arrays of a state object, in the order a chunk's entries are fed to the checksum.
inline constexpr std::array<std::string_view, 7> kStateKeys = {
    "revokedFingerprints", "revokedUsernames", "disabledCas",         "activatedFingerprints",
    "registeredUsernames", "autoActivateCas",  "quarantinedUsernames"};

/// The plugin refuses a generation announcing more chunks than this (a bound on staging).
inline constexpr std::uint64_t kMaxStateChunks = 100000;

/// Integrity of one generation: FNV-1a 64 over (key index, entry, '\n') for every entry in the
/// order it was sent (chunk by chunk, keys in kStateKeys order, array order), plus the entry
/// count. It detects a lost, repeated or reordered chunk or entry; it is not a MAC (only service
/// users may publish control messages).
class StateChecksum {
 public:
  void add(std::size_t key_index, std::string_view entry) {
    mix(static_cast<unsigned char>(key_index));
    for (char c : entry) mix(static_cast<unsigned char>(c));
    mix('\n');
    ++entries_;
  }
  std::uint64_t entries() const { return entries_; }
  /// "fnv1a64:<16 lowercase hex digits>".
  std::string text() const {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "fnv1a64:";
    for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(hash_ >> shift) & 0xF]);
    return out;
  }

 private:
  void mix(unsigned char byte) {
    hash_ ^= byte;
    hash_ *= 1099511628211ULL;
  }
  std::uint64_t hash_ = 14695981039346656037ULL;
  std::uint64_t entries_ = 0;
};

}  // namespace sp::broker
