#include "smartproduct/detect/baseline.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sp::detect {

int Baseline::bucket_of(double value) {
  if (!(value > 0)) return 0;  // NaN and negatives too
  if (value < 16) return static_cast<int>(value);
  const auto v = static_cast<std::uint64_t>(std::min(value, std::ldexp(1.0, 40) - 1));
  const int exponent = 63 - __builtin_clzll(v);                      // 4..39
  const int mantissa = static_cast<int>((v >> (exponent - 3)) & 7);  // the 3 bits below the top
  return 16 + (exponent - 4) * 8 + mantissa;
}

double Baseline::upper_edge(int bucket) {
  if (bucket < 16) return bucket;
  const int exponent = 4 + (bucket - 16) / 8;
  const int mantissa = (bucket - 16) % 8;
  // [2^e (1 + m/8), 2^e (1 + (m+1)/8)): the largest whole value in it.
  return std::ldexp(1.0 + (mantissa + 1) / 8.0, exponent) - 1;
}

void Baseline::drop_before(std::int64_t first_day) {
  days_.erase(
      std::remove_if(days_.begin(), days_.end(), [&](const Day& d) { return d.day < first_day; }),
      days_.end());
}

void Baseline::add(double value, std::int64_t day) {
  drop_before(day - (kDays - 1));
  auto it = std::find_if(days_.begin(), days_.end(), [&](const Day& d) { return d.day == day; });
  if (it == days_.end()) {
    // A sample dated before a day already learned (the plugin's clock stepped back) joins that
    // newest day rather than reordering the ring.
    if (!days_.empty() && days_.back().day > day) {
      it = days_.end() - 1;
    } else {
      days_.push_back(Day{day, {}});
      it = days_.end() - 1;
    }
  }
  const auto b = static_cast<std::uint16_t>(bucket_of(value));
  auto& counts = it->counts;
  auto pos = std::lower_bound(counts.begin(), counts.end(), b,
                              [](const auto& e, std::uint16_t key) { return e.first < key; });
  if (pos != counts.end() && pos->first == b) {
    if (pos->second < UINT32_MAX) ++pos->second;
  } else {
    counts.insert(pos, {b, 1});
  }
}

std::uint64_t Baseline::samples(std::int64_t today) const {
  std::uint64_t n = 0;
  for (const auto& d : days_) {
    if (d.day < today - (kDays - 1)) continue;
    for (const auto& [b, c] : d.counts) n += c;
  }
  return n;
}

std::optional<double> Baseline::percentile(int percentile, std::int64_t today) const {
  std::vector<std::uint64_t> merged(kBuckets, 0);
  std::uint64_t total = 0;
  for (const auto& d : days_) {
    if (d.day < today - (kDays - 1)) continue;
    for (const auto& [b, c] : d.counts) {
      merged[b] += c;
      total += c;
    }
  }
  if (total == 0) return std::nullopt;
  // The nearest-rank percentile: the smallest value with at least p % of the samples at or below.
  const auto rank = static_cast<std::uint64_t>(std::ceil(total * (percentile / 100.0)));
  std::uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += merged[b];
    if (seen >= std::max<std::uint64_t>(rank, 1)) return upper_edge(b);
  }
  return upper_edge(kBuckets - 1);
}

namespace {

constexpr char kMagic = 'B';
constexpr char kVersion = 1;

template <class T>
void put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

template <class T>
bool take(std::string_view& in, T& v) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(&v, in.data(), sizeof(T));
  in.remove_prefix(sizeof(T));
  return true;
}

}  // namespace

std::string Baseline::to_bytes() const {
  std::string out;
  out.push_back(kMagic);
  out.push_back(kVersion);
  put<std::uint8_t>(out, static_cast<std::uint8_t>(days_.size()));
  for (const auto& d : days_) {
    put<std::int64_t>(out, d.day);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(d.counts.size()));
    for (const auto& [b, c] : d.counts) {
      put<std::uint16_t>(out, b);
      put<std::uint32_t>(out, c);
    }
  }
  return out;
}

std::optional<Baseline> Baseline::from_bytes(std::string_view in) {
  if (in.size() < 3 || in[0] != kMagic || in[1] != kVersion) return std::nullopt;
  in.remove_prefix(2);
  std::uint8_t days = 0;
  if (!take(in, days) || days > kDays) return std::nullopt;
  Baseline out;
  for (int i = 0; i < days; ++i) {
    Day d;
    std::uint16_t n = 0;
    if (!take(in, d.day) || !take(in, n) || n > kBuckets) return std::nullopt;
    if (!out.days_.empty() && out.days_.back().day >= d.day) return std::nullopt;
    for (int k = 0; k < n; ++k) {
      std::uint16_t b = 0;
      std::uint32_t c = 0;
      if (!take(in, b) || !take(in, c) || b >= kBuckets) return std::nullopt;
      if (!d.counts.empty() && d.counts.back().first >= b) return std::nullopt;
      d.counts.emplace_back(b, c);
    }
    out.days_.push_back(std::move(d));
  }
  if (!in.empty()) return std::nullopt;
  return out;
}

}  // namespace sp::detect
