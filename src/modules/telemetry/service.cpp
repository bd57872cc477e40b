#include "smartproduct/telemetry/service.hpp"

#include "smartproduct/store/telemetry_maintenance.hpp"
#include "smartproduct/telemetry/events.hpp"

#include <cmath>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

namespace sp::telemetry {

namespace {
// Rollups cost one upsert per field and resolution in the ingest transaction: bound them.
constexpr std::size_t kMaxRolledUpFields = 16;
}  // namespace

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

std::string append_attributes(std::string_view object_text, const nlohmann::json& body,
                              const std::vector<std::string>& names, bool text_is_empty_object) {
  // A UTF-8 byte order mark: the parser skips it, SQLite's JSON functions (datasets) do not.
  if (object_text.starts_with("\xEF\xBB\xBF")) object_text.remove_prefix(3);
  const std::size_t close = object_text.rfind('}');
  std::string out;
  out.reserve(object_text.size() + 40 * names.size());
  out.append(object_text.substr(0, close));
  bool first = text_is_empty_object;
  // One serializer writing into `out` for all values (dump() would build one, and a string, per
  // value); the same text dump() gives.
  nlohmann::detail::serializer<nlohmann::json> values(
      nlohmann::detail::output_adapter<char, std::string>(out), ' ');
  for (const auto& name : names) {
    auto it = body.find(name);
    if (it == body.end()) continue;
    out += first ? "\"" : ",\"";
    first = false;
    out += name;  // an attribute name of the pipeline grammar: nothing to escape
    out += "\":";
    values.dump(*it, false, false, 0);
  }
  out.append(object_text.substr(close));
  return out;
}

TelemetryService::TelemetryService(IngestConfig config, store::TelemetryRepository& repository,
                                   const Clock& clock, EventBus& bus)
    : config_(std::move(config)),
      repository_(repository),
      clock_(clock),
      bus_(bus),
      pipeline_(Pipeline::compile(Pipeline::default_activities()).value()) {}

void TelemetryService::forget(const std::string& device_id) {
  std::lock_guard lock(mutex_);
  if (device_id.empty()) {
    devices_.clear();
  } else {
    devices_.erase(device_id);
  }
}

const DeviceAttributes* TelemetryService::device(const std::string& device_id) {
  auto it = devices_.find(device_id);
  if (it == devices_.end()) {
    // Bounded: a flood of unknown serials must not grow the cache without limit.
    if (devices_.size() > 100000) devices_.clear();
    CachedDevice entry;
    if (lookup_) entry.attributes = lookup_(device_id);
    it = devices_.emplace(device_id, std::move(entry)).first;
  }
  return it->second.attributes ? &*it->second.attributes : nullptr;
}

bool TelemetryService::prepare(std::string device_id, nlohmann::json body, std::string_view payload,
                               TelemetryRecord& record) {
  record.received_at_ms = clock_.now_ms();
  record.device_ts_ms = epoch_ms_field(body, "timestamp");
  record.dedup_key = dedup_key(body, payload);
  record.t_ms = sample_time(record.device_ts_ms, record.received_at_ms);
  // A pipeline that only adds attributes the device did not send: its output is the device's
  // text with those attributes appended, instead of a dump of the whole object (the larger part
  // of a message's cost here).
  const auto& added = pipeline_.added_names();
  bool append_to_text = added.has_value();
  for (std::size_t i = 0; append_to_text && i < added->size(); ++i) {
    append_to_text = !body.contains((*added)[i]);
  }
  const bool sent_empty = body.empty();
  {
    std::lock_guard lock(mutex_);
    const DeviceAttributes* dev = device(device_id);
    if (dev) record.owner_id = dev->user_id;
    if (!pipeline_.apply(body, dev, record.received_at_ms, evaluator_)) return false;
  }
  record.numbers.clear();
  for (auto it = body.begin(); rollups_ && it != body.end(); ++it) {
    if (!it->is_number() || it.key() == "timestamp") continue;
    if (record.numbers.size() >= kMaxRolledUpFields) break;
    const double v = it->get<double>();
    if (std::isfinite(v)) record.numbers.emplace_back(it.key(), v);
  }
  record.device_id = std::move(device_id);
  record.payload =
      append_to_text ? append_attributes(payload, body, *added, sent_empty) : body.dump();
  return true;
}

bool TelemetryService::ingest(std::string_view topic, std::string_view payload,
                              std::function<void(bool)> done, const SpoolMark* mark) {
  counters_.received++;
  if (paused_ && paused_()) {
    refused_++;
    done(false);  // not taken: redelivered (broker session or spool) after resume
    return true;
  }
  auto parsed = parse_device_message(config_.topic, topic, payload, config_.max_payload_bytes);
  if (!parsed.message) {
    counters_.count(parsed.rejection);
    spdlog::debug("telemetry: rejected message on {} ({} bytes): {}", topic, payload.size(),
                  to_string(parsed.rejection));
    done(true);  // acknowledged: redelivering an invalid message would never make it valid
    return false;
  }
  TelemetryRecord record;
  if (!prepare(std::move(parsed.message->device_id), std::move(parsed.message->body), payload,
               record)) {
    filtered_++;
    done(true);  // dropped by the pipeline's filter, as configured
    return false;
  }
  std::function<void()> announce;
  if (bus_.has_subscribers<TelemetryStored>() && watch_.wanted(record.device_id)) {
    announce = [this, stored = TelemetryStored{record}] { bus_.publish(stored); };
  }
  auto acknowledge = count_and_acknowledge(counters_, "telemetry", AppendOutcome::kDuplicate,
                                           std::move(done), std::move(announce));
  if (mark) record.spool_mark = *mark;
  if (!full_) {
    repository_.append(std::move(record), std::move(acknowledge));
    return true;
  }
  repository_.append(std::move(record),
                     [this, acknowledge = std::move(acknowledge)](Result<AppendOutcome> outcome) {
                       if (!outcome && store::is_disk_full(outcome.error())) full_();
                       acknowledge(std::move(outcome));
                     });
  return true;
}

}  // namespace sp::telemetry
