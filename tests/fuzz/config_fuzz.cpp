// libFuzzer target for the TOML config loader (core/config.cpp over toml++, compiled header-only
// here so the parser is instrumented too): load_daemon_config on the input, then a module-style
// read of a section with every accessor (strings, integers in range, lists, subsections). The
// loader takes a path, so each input is written to one scratch file per process.
// Invariants: a loaded config has no errors and its values are within their declared ranges;
// errors name a position; an integer accessor never returns a value outside [min, max].

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "smartproduct/core/config.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

const std::string& scratch() {
  static const std::string path = "/tmp/sp-config-fuzz-" + std::to_string(::getpid()) + ".toml";
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream out(scratch(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto loaded = sp::config::load_daemon_config(scratch());
  if (loaded.config) {
    check(loaded.errors.empty());
    const auto& c = *loaded.config;
    check(c.storage.busy_timeout_ms >= 0);
  } else {
    check(!loaded.errors.empty());
  }
  for (const auto& e : loaded.errors) check(!e.empty());
  if (loaded.document) {
    std::vector<std::string> errors;
    auto section = loaded.document->section("telemetry", errors);
    const auto n = section.integer("max_payload_bytes", 10, 1, 1000);
    check(n >= 1 && n <= 1000);
    (void)section.string("topic", "x");
    (void)section.boolean("enabled", true);
    (void)section.one_of("mode", "a", {"a", "b"});
    (void)section.path("dir", "/tmp");
    if (auto list = section.string_list("expressions")) {
      for (const auto& item : *list) {
        if (!item.value.empty()) section.error_in(item, item.value.size() - 1, "expressions", "x");
      }
    }
    auto sub = section.subsection("rollups");
    (void)sub.integer("keep_days", 1, 0, 3650);
    sub.finish();
    section.finish();
    loaded.document->check_sections({"log", "storage", "http", "broker", "telemetry"}, errors);
  }
  return 0;
}
