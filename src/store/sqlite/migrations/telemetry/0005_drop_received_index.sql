-- Samples are read by (device_id, t) (telemetry_device_t, 0003) and pruned by id or t; nothing reads
-- by (device_id, received_at) any more, and that index cost every ingested row a fourth b-tree
-- insert. received_at stays in the row.
DROP INDEX IF EXISTS telemetry_device_received;
