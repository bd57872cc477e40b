#pragma once
// The alert step of the events store (run by the event repository inside the event's write job)
// and the SQL the alert count uses (exposed so a test can show its query plan).

#include <cstddef>
#include <string>

#include "smartproduct/alerts/types.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/events/types.hpp"
#include "store/sqlite/connection.hpp"

namespace sp::sqlite {

/// For a newly inserted event `e` of an owned device: unless the owner suppressed its device +
/// type (then the event is flagged suppress and nothing else happens), folds it into the open
/// alert group of (user, device, type, message) active within the window or opens a new one,
/// links the event to the group, and when the owner's settings ask for it (should_notify) inserts
/// one 'alert' row into notification_outbox. Must run in the transaction that inserted `e`.
Result<void> record_alert_occurrence(Connection& conn, const events::EventRecord& e,
                                     const alerts::Grouping& grouping);

/// SELECT count(*) of a user's open alerts of `types` types: parameters :user and :t1..:tN.
std::string alert_count_sql(std::size_t types);

}  // namespace sp::sqlite
