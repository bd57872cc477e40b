#pragma once
// Logging setup. Everything logs through spdlog's default logger; this only decides where it goes.

#include <string>
#include <string_view>

namespace sp::logging {

/// sink: "stdout", "journald" (stdout with <N> syslog priority prefixes, which journald
/// understands, and no timestamp of our own), or "auto" (journald when started by systemd, i.e.
/// JOURNAL_STREAM set).
void setup(std::string_view sink, std::string_view level);

/// Changes the level at run time (SIGHUP). Returns false for an unknown level name.
bool set_level(std::string_view level);

/// True when `level` is one of trace, debug, info, warn, error.
bool is_valid_level(std::string_view level);

}  // namespace sp::logging
