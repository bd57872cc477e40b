#pragma once
// The events table's columns as read by the event and alert repositories.

#include "smartproduct/events/types.hpp"
#include "store/sqlite/connection.hpp"

namespace sp::sqlite {

/// The select list read_event_row() expects, each column prefixed with `alias` ("" or "e.").
std::string event_columns(std::string_view alias = "");
/// Reads the event_columns() starting at column `first`.
events::EventRecord read_event_row(const Statement& s, int first = 0);

}  // namespace sp::sqlite
