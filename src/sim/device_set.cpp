#include "device_set.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

namespace sp::sim {

namespace {
constexpr std::size_t kMaxSerialLength = 128;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

bool is_valid_serial(std::string_view serial) {
  if (serial.empty() || serial.size() > kMaxSerialLength) return false;
  return std::all_of(serial.begin(), serial.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == ':';
  });
}

std::string make_serial(std::string_view prefix, std::size_t index) {
  return fmt::format("{}{:05d}", prefix, index);
}

std::vector<std::string> parse_serial_list(std::string_view csv) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  while (true) {
    auto comma = csv.find(',');
    auto item = trim(csv.substr(0, comma));
    if (!item.empty()) {
      if (!is_valid_serial(item)) {
        throw std::invalid_argument(
            fmt::format("invalid serial '{}' (allowed: A-Z a-z 0-9 - _ :)", item));
      }
      if (!seen.insert(std::string(item)).second) {
        throw std::invalid_argument(fmt::format("serial '{}' is listed twice", item));
      }
      out.emplace_back(item);
    }
    if (comma == std::string_view::npos) break;
    csv.remove_prefix(comma + 1);
  }
  if (out.empty()) throw std::invalid_argument("no serials given");
  return out;
}

std::vector<std::string> make_serials(std::string_view prefix, std::size_t count) {
  if (count == 0) throw std::invalid_argument("--count must be at least 1");
  std::vector<std::string> out;
  out.reserve(count);
  for (std::size_t i = 1; i <= count; ++i) {
    out.push_back(make_serial(prefix, i));
    if (!is_valid_serial(out.back())) {
      throw std::invalid_argument(fmt::format("invalid serial '{}' from --prefix", out.back()));
    }
  }
  return out;
}

std::vector<DeviceIdentity> identities_in(const std::filesystem::path& cert_dir,
                                          const std::vector<std::string>& serials) {
  std::vector<DeviceIdentity> out;
  out.reserve(serials.size());
  for (const auto& serial : serials) {
    out.push_back({serial, cert_dir / (serial + ".crt"), cert_dir / (serial + ".key")});
  }
  return out;
}

std::vector<std::string> missing_credentials(const std::vector<DeviceIdentity>& devices) {
  std::vector<std::string> out;
  for (const auto& d : devices) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(d.cert, ec) ||
        !std::filesystem::is_regular_file(d.key, ec)) {
      out.push_back(d.serial);
    }
  }
  return out;
}

}  // namespace sp::sim
