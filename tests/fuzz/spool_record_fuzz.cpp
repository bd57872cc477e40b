// The spool record parser (the daemon reads files a broker wrote; a torn or corrupted file must
// never crash it or yield a record the bytes do not hold).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "smartproduct/broker/spool.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t at = 0;
  while (at <= in.size()) {
    auto r = sp::spool::parse_record(in.substr(at));
    if (r.status != sp::spool::ParseStatus::kOk) break;
    if (r.consumed == 0 || r.consumed > in.size() - at) __builtin_trap();
    // A parsed record re-encodes to exactly the bytes it came from.
    if (sp::spool::encode_record(r.record) != in.substr(at, r.consumed)) __builtin_trap();
    at += r.consumed;
  }
  return 0;
}
