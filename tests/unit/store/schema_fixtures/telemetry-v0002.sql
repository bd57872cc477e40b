-- A populated database at schema version 2, dumped (sqlite3 .dump) from a real instance after the
-- commands integration test, plus rows for the tables that test leaves empty. upgrade_test.cpp
-- migrates it to the newest schema. Test data only: no key or password of a real instance.
PRAGMA user_version=2;
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE instance_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
INSERT INTO instance_meta VALUES('schema','telemetry');
INSERT INTO instance_meta VALUES('instance_id','27cf4d193f194317e64851376a10adfb');
INSERT INTO instance_meta VALUES('created_at','2026-12-03T03:34:51.815Z');
CREATE TABLE telemetry (
  id          INTEGER PRIMARY KEY,
  device_id   TEXT    NOT NULL,
  device_ts   INTEGER,
  received_at INTEGER NOT NULL,
  payload     TEXT    NOT NULL,
  dedup_key   TEXT
) STRICT;
INSERT INTO telemetry VALUES(1,'SN-C000',1764720000000,1764720000050,'{"deviceId":"SN-C000","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720000000,"sentAt":"2026-12-03T00:00:00Z"}','SN-C000-0');
INSERT INTO telemetry VALUES(2,'SN-C000',1764720001000,1764720001050,'{"deviceId":"SN-C000","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720001000,"sentAt":"2026-12-03T00:00:01Z"}','SN-C000-1');
INSERT INTO telemetry VALUES(3,'SN-C000',1764720002000,1764720002050,'{"deviceId":"SN-C000","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720002000,"sentAt":"2026-12-03T00:00:02Z"}','SN-C000-2');
INSERT INTO telemetry VALUES(4,'SN-C000',1764720003000,1764720003050,'{"deviceId":"SN-C000","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720003000,"sentAt":"2026-12-03T00:00:03Z"}','SN-C000-3');
INSERT INTO telemetry VALUES(5,'SN-C000',1764720004000,1764720004050,'{"deviceId":"SN-C000","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720004000,"sentAt":"2026-12-03T00:00:04Z"}','SN-C000-4');
INSERT INTO telemetry VALUES(6,'SN-C000',1764720005000,1764720005050,'{"deviceId":"SN-C000","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720005000,"sentAt":"2026-12-03T00:00:05Z"}','SN-C000-5');
INSERT INTO telemetry VALUES(7,'SN-C000',1764720006000,1764720006050,'{"deviceId":"SN-C000","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720006000,"sentAt":"2026-12-03T00:00:06Z"}','SN-C000-6');
INSERT INTO telemetry VALUES(8,'SN-C000',1764720007000,1764720007050,'{"deviceId":"SN-C000","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720007000,"sentAt":"2026-12-03T00:00:07Z"}','SN-C000-7');
INSERT INTO telemetry VALUES(9,'SN-C000',1764720008000,1764720008050,'{"deviceId":"SN-C000","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720008000,"sentAt":"2026-12-03T00:00:08Z"}','SN-C000-8');
INSERT INTO telemetry VALUES(10,'SN-C000',1764720009000,1764720009050,'{"deviceId":"SN-C000","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720009000,"sentAt":"2026-12-03T00:00:09Z"}','SN-C000-9');
INSERT INTO telemetry VALUES(11,'SN-C000',1764720010000,1764720010050,'{"deviceId":"SN-C000","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720010000,"sentAt":"2026-12-03T00:00:10Z"}','SN-C000-10');
INSERT INTO telemetry VALUES(12,'SN-C000',1764720011000,1764720011050,'{"deviceId":"SN-C000","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720011000,"sentAt":"2026-12-03T00:00:11Z"}','SN-C000-11');
INSERT INTO telemetry VALUES(13,'SN-C000',1764720012000,1764720012050,'{"deviceId":"SN-C000","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720012000,"sentAt":"2026-12-03T00:00:12Z"}','SN-C000-12');
INSERT INTO telemetry VALUES(14,'SN-C000',1764720013000,1764720013050,'{"deviceId":"SN-C000","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720013000,"sentAt":"2026-12-03T00:00:13Z"}','SN-C000-13');
INSERT INTO telemetry VALUES(15,'SN-C000',1764720014000,1764720014050,'{"deviceId":"SN-C000","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720014000,"sentAt":"2026-12-03T00:00:14Z"}','SN-C000-14');
INSERT INTO telemetry VALUES(16,'SN-C000',1764720015000,1764720015050,'{"deviceId":"SN-C000","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720015000,"sentAt":"2026-12-03T00:00:15Z"}','SN-C000-15');
INSERT INTO telemetry VALUES(17,'SN-C000',1764720016000,1764720016050,'{"deviceId":"SN-C000","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720016000,"sentAt":"2026-12-03T00:00:16Z"}','SN-C000-16');
INSERT INTO telemetry VALUES(18,'SN-C000',1764720017000,1764720017050,'{"deviceId":"SN-C000","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720017000,"sentAt":"2026-12-03T00:00:17Z"}','SN-C000-17');
INSERT INTO telemetry VALUES(19,'SN-C000',1764720018000,1764720018050,'{"deviceId":"SN-C000","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720018000,"sentAt":"2026-12-03T00:00:18Z"}','SN-C000-18');
INSERT INTO telemetry VALUES(20,'SN-C000',1764720019000,1764720019050,'{"deviceId":"SN-C000","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720019000,"sentAt":"2026-12-03T00:00:19Z"}','SN-C000-19');
INSERT INTO telemetry VALUES(21,'SN-C000',1764720020000,1764720020050,'{"deviceId":"SN-C000","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720020000,"sentAt":"2026-12-03T00:00:20Z"}','SN-C000-20');
INSERT INTO telemetry VALUES(22,'SN-C000',1764720021000,1764720021050,'{"deviceId":"SN-C000","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720021000,"sentAt":"2026-12-03T00:00:21Z"}','SN-C000-21');
INSERT INTO telemetry VALUES(23,'SN-C000',1764720022000,1764720022050,'{"deviceId":"SN-C000","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720022000,"sentAt":"2026-12-03T00:00:22Z"}','SN-C000-22');
INSERT INTO telemetry VALUES(24,'SN-C000',1764720023000,1764720023050,'{"deviceId":"SN-C000","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720023000,"sentAt":"2026-12-03T00:00:23Z"}','SN-C000-23');
INSERT INTO telemetry VALUES(25,'SN-C000',1764720024000,1764720024050,'{"deviceId":"SN-C000","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720024000,"sentAt":"2026-12-03T00:00:24Z"}','SN-C000-24');
INSERT INTO telemetry VALUES(26,'SN-C000',1764720025000,1764720025050,'{"deviceId":"SN-C000","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720025000,"sentAt":"2026-12-03T00:00:25Z"}','SN-C000-25');
INSERT INTO telemetry VALUES(27,'SN-C000',1764720026000,1764720026050,'{"deviceId":"SN-C000","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720026000,"sentAt":"2026-12-03T00:00:26Z"}','SN-C000-26');
INSERT INTO telemetry VALUES(28,'SN-C000',1764720027000,1764720027050,'{"deviceId":"SN-C000","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720027000,"sentAt":"2026-12-03T00:00:27Z"}','SN-C000-27');
INSERT INTO telemetry VALUES(29,'SN-C000',1764720028000,1764720028050,'{"deviceId":"SN-C000","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720028000,"sentAt":"2026-12-03T00:00:28Z"}','SN-C000-28');
INSERT INTO telemetry VALUES(30,'SN-C000',1764720029000,1764720029050,'{"deviceId":"SN-C000","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720029000,"sentAt":"2026-12-03T00:00:29Z"}','SN-C000-29');
INSERT INTO telemetry VALUES(31,'SN-C001',1764720000000,1764720000050,'{"deviceId":"SN-C001","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720000000,"sentAt":"2026-12-03T00:00:00Z"}','SN-C001-0');
INSERT INTO telemetry VALUES(32,'SN-C001',1764720001000,1764720001050,'{"deviceId":"SN-C001","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720001000,"sentAt":"2026-12-03T00:00:01Z"}','SN-C001-1');
INSERT INTO telemetry VALUES(33,'SN-C001',1764720002000,1764720002050,'{"deviceId":"SN-C001","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720002000,"sentAt":"2026-12-03T00:00:02Z"}','SN-C001-2');
INSERT INTO telemetry VALUES(34,'SN-C001',1764720003000,1764720003050,'{"deviceId":"SN-C001","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720003000,"sentAt":"2026-12-03T00:00:03Z"}','SN-C001-3');
INSERT INTO telemetry VALUES(35,'SN-C001',1764720004000,1764720004050,'{"deviceId":"SN-C001","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720004000,"sentAt":"2026-12-03T00:00:04Z"}','SN-C001-4');
INSERT INTO telemetry VALUES(36,'SN-C001',1764720005000,1764720005050,'{"deviceId":"SN-C001","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720005000,"sentAt":"2026-12-03T00:00:05Z"}','SN-C001-5');
INSERT INTO telemetry VALUES(37,'SN-C001',1764720006000,1764720006050,'{"deviceId":"SN-C001","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720006000,"sentAt":"2026-12-03T00:00:06Z"}','SN-C001-6');
INSERT INTO telemetry VALUES(38,'SN-C001',1764720007000,1764720007050,'{"deviceId":"SN-C001","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720007000,"sentAt":"2026-12-03T00:00:07Z"}','SN-C001-7');
INSERT INTO telemetry VALUES(39,'SN-C001',1764720008000,1764720008050,'{"deviceId":"SN-C001","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720008000,"sentAt":"2026-12-03T00:00:08Z"}','SN-C001-8');
INSERT INTO telemetry VALUES(40,'SN-C001',1764720009000,1764720009050,'{"deviceId":"SN-C001","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720009000,"sentAt":"2026-12-03T00:00:09Z"}','SN-C001-9');
INSERT INTO telemetry VALUES(41,'SN-C001',1764720010000,1764720010050,'{"deviceId":"SN-C001","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720010000,"sentAt":"2026-12-03T00:00:10Z"}','SN-C001-10');
INSERT INTO telemetry VALUES(42,'SN-C001',1764720011000,1764720011050,'{"deviceId":"SN-C001","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720011000,"sentAt":"2026-12-03T00:00:11Z"}','SN-C001-11');
INSERT INTO telemetry VALUES(43,'SN-C001',1764720012000,1764720012050,'{"deviceId":"SN-C001","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720012000,"sentAt":"2026-12-03T00:00:12Z"}','SN-C001-12');
INSERT INTO telemetry VALUES(44,'SN-C001',1764720013000,1764720013050,'{"deviceId":"SN-C001","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720013000,"sentAt":"2026-12-03T00:00:13Z"}','SN-C001-13');
INSERT INTO telemetry VALUES(45,'SN-C001',1764720014000,1764720014050,'{"deviceId":"SN-C001","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720014000,"sentAt":"2026-12-03T00:00:14Z"}','SN-C001-14');
INSERT INTO telemetry VALUES(46,'SN-C001',1764720015000,1764720015050,'{"deviceId":"SN-C001","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720015000,"sentAt":"2026-12-03T00:00:15Z"}','SN-C001-15');
INSERT INTO telemetry VALUES(47,'SN-C001',1764720016000,1764720016050,'{"deviceId":"SN-C001","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720016000,"sentAt":"2026-12-03T00:00:16Z"}','SN-C001-16');
INSERT INTO telemetry VALUES(48,'SN-C001',1764720017000,1764720017050,'{"deviceId":"SN-C001","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720017000,"sentAt":"2026-12-03T00:00:17Z"}','SN-C001-17');
INSERT INTO telemetry VALUES(49,'SN-C001',1764720018000,1764720018050,'{"deviceId":"SN-C001","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720018000,"sentAt":"2026-12-03T00:00:18Z"}','SN-C001-18');
INSERT INTO telemetry VALUES(50,'SN-C001',1764720019000,1764720019050,'{"deviceId":"SN-C001","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720019000,"sentAt":"2026-12-03T00:00:19Z"}','SN-C001-19');
INSERT INTO telemetry VALUES(51,'SN-C001',1764720020000,1764720020050,'{"deviceId":"SN-C001","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720020000,"sentAt":"2026-12-03T00:00:20Z"}','SN-C001-20');
INSERT INTO telemetry VALUES(52,'SN-C001',1764720021000,1764720021050,'{"deviceId":"SN-C001","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720021000,"sentAt":"2026-12-03T00:00:21Z"}','SN-C001-21');
INSERT INTO telemetry VALUES(53,'SN-C001',1764720022000,1764720022050,'{"deviceId":"SN-C001","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720022000,"sentAt":"2026-12-03T00:00:22Z"}','SN-C001-22');
INSERT INTO telemetry VALUES(54,'SN-C001',1764720023000,1764720023050,'{"deviceId":"SN-C001","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720023000,"sentAt":"2026-12-03T00:00:23Z"}','SN-C001-23');
INSERT INTO telemetry VALUES(55,'SN-C001',1764720024000,1764720024050,'{"deviceId":"SN-C001","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720024000,"sentAt":"2026-12-03T00:00:24Z"}','SN-C001-24');
INSERT INTO telemetry VALUES(56,'SN-C001',1764720025000,1764720025050,'{"deviceId":"SN-C001","actualTemperature":70,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720025000,"sentAt":"2026-12-03T00:00:25Z"}','SN-C001-25');
INSERT INTO telemetry VALUES(57,'SN-C001',1764720026000,1764720026050,'{"deviceId":"SN-C001","actualTemperature":71,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720026000,"sentAt":"2026-12-03T00:00:26Z"}','SN-C001-26');
INSERT INTO telemetry VALUES(58,'SN-C001',1764720027000,1764720027050,'{"deviceId":"SN-C001","actualTemperature":72,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720027000,"sentAt":"2026-12-03T00:00:27Z"}','SN-C001-27');
INSERT INTO telemetry VALUES(59,'SN-C001',1764720028000,1764720028050,'{"deviceId":"SN-C001","actualTemperature":73,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720028000,"sentAt":"2026-12-03T00:00:28Z"}','SN-C001-28');
INSERT INTO telemetry VALUES(60,'SN-C001',1764720029000,1764720029050,'{"deviceId":"SN-C001","actualTemperature":74,"targetTemperature":72,"powerStatus":"AC","timestamp":1764720029000,"sentAt":"2026-12-03T00:00:29Z"}','SN-C001-29');
CREATE UNIQUE INDEX telemetry_dedup ON telemetry (device_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX telemetry_device_received ON telemetry (device_id, received_at);
COMMIT;
