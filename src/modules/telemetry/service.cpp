#include "smartproduct/telemetry/service.hpp"

#include "smartproduct/telemetry/events.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

namespace sp::telemetry {

std::string dedup_key(const nlohmann::json& body, std::string_view payload) {
  auto ts = epoch_ms_field(body, "timestamp");
  auto seq = body.find("seq");
  bool has_seq = seq != body.end() && seq->is_number_unsigned();
  if (!ts && !has_seq && !body.contains("messageId")) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(payload.data(), payload.size(), md, &len, EVP_sha256(), nullptr);
  // The key starts with the device's clock (or sequence) so that new keys land at the end of the
  // (device_id, dedup_key) index: random keys touched a random index page per insert and made the
  // writer ~10x slower on a large table. 64 bits of the payload hash tell messages apart.
  std::string out;
  if (ts) {
    out = fmt::format("{:013d}", *ts);
  } else if (has_seq) {
    out = fmt::format("s{:020d}", seq->get<uint64_t>());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < 8; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

TelemetryService::TelemetryService(IngestConfig config, store::TelemetryRepository& repository,
                                   const Clock& clock, EventBus& bus)
    : config_(std::move(config)), repository_(repository), clock_(clock), bus_(bus) {}

void TelemetryService::ingest(std::string_view topic, std::string_view payload,
                              std::function<void(bool)> done) {
  counters_.received++;
  auto parsed = parse_device_message(config_.topic, topic, payload, config_.max_payload_bytes);
  if (!parsed.message) {
    counters_.count(parsed.rejection);
    spdlog::debug("telemetry: rejected message on {} ({} bytes): {}", topic, payload.size(),
                  to_string(parsed.rejection));
    done(true);  // acknowledged: redelivering an invalid message would never make it valid
    return;
  }
  TelemetryRecord record;
  record.device_id = std::move(parsed.message->device_id);
  record.device_ts_ms = epoch_ms_field(parsed.message->body, "timestamp");
  record.received_at_ms = clock_.now_ms();
  record.dedup_key = dedup_key(parsed.message->body, payload);
  record.payload = parsed.message->body.dump();
  std::function<void()> announce;
  if (bus_.has_subscribers<TelemetryStored>()) {
    announce = [this, stored = TelemetryStored{record}] { bus_.publish(stored); };
  }
  repository_.append(std::move(record),
                     count_and_acknowledge(counters_, "telemetry", AppendOutcome::kDuplicate,
                                           std::move(done), std::move(announce)));
}

}  // namespace sp::telemetry
