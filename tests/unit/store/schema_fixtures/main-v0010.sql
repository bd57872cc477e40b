-- A populated database at schema version 10, dumped (sqlite3 .dump) from a real instance after the
-- commands integration test, plus rows for the tables that test leaves empty. upgrade_test.cpp
-- migrates it to the newest schema. Test data only: no key or password of a real instance.
PRAGMA user_version=10;
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE instance_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
INSERT INTO instance_meta VALUES('schema','main');
INSERT INTO instance_meta VALUES('instance_id','bb6f82b00a0120de30b18d136547897c');
INSERT INTO instance_meta VALUES('created_at','2026-12-03T03:34:51.770Z');
INSERT INTO instance_meta VALUES('ca_registration_code','e1fb753d99e07c58e6bdf3fb327817b62d70522bd36b3b60536ffd7ec418a795');
INSERT INTO instance_meta VALUES('broker_epoch','1796268908');
CREATE TABLE events (
  id                    TEXT    PRIMARY KEY,
  device_id             TEXT    NOT NULL,
  user_id               TEXT,
  message_id            TEXT    NOT NULL,
  type                  TEXT    NOT NULL CHECK (type IN ('error', 'warning', 'info', 'diagnostic')),
  message               TEXT    NOT NULL,
  details               TEXT    NOT NULL,
  timestamp             INTEGER NOT NULL,
  timestamp_from_device INTEGER NOT NULL CHECK (timestamp_from_device IN (0, 1)),
  sent_at               TEXT    NOT NULL,
  created_at            INTEGER NOT NULL,
  updated_at            INTEGER NOT NULL,
  ack                   INTEGER NOT NULL DEFAULT 0 CHECK (ack IN (0, 1)),
  suppress              INTEGER NOT NULL DEFAULT 0 CHECK (suppress IN (0, 1)),
  payload               TEXT    NOT NULL,
  dedup_key             TEXT
) STRICT;
INSERT INTO events VALUES('7d3b1f2e-0000-4000-8000-000000000001','SN-C000','zAyFQmOM_5Pmvti6uYhZUg','m-1','warning','Temperature out of band','{"value":115}',1764720000000,1,'2026-12-03T00:00:00Z',1764720000100,1764720000100,0,0,'{"type":"warning","message":"Temperature out of band","details":{"value":115}}','m-1');
INSERT INTO events VALUES('7d3b1f2e-0000-4000-8000-000000000002','SN-C000','zAyFQmOM_5Pmvti6uYhZUg','m-2','info','Power status changed','{"value":"AC"}',1764720060000,1,'2026-12-03T00:01:00Z',1764720060100,1764720060100,1,0,'{"type":"info","message":"Power status changed","details":{"value":"AC"}}','m-2');
CREATE TABLE device_presence (
  device_id        TEXT    PRIMARY KEY,
  connected        INTEGER NOT NULL CHECK (connected IN (0, 1)),
  since            INTEGER NOT NULL,
  last_seen        INTEGER NOT NULL,
  address          TEXT    NOT NULL,
  broker_epoch     INTEGER NOT NULL,
  conn_seq         INTEGER NOT NULL,
  cert_fingerprint TEXT    NOT NULL
) STRICT;
INSERT INTO device_presence VALUES('SN-C000',0,1796268895848,1796268895848,'127.0.0.1',1796268891,2,'61466E32A9D14563DC22B2423D8582FF6A547590FF60C78D30899BD95F61D30B');
INSERT INTO device_presence VALUES('SN-C001',0,1796268897022,1796268897022,'127.0.0.1',1796268891,3,'E1040099DBFD87378D195F123CD96CDDF0ABF5A1D5F3F08D9C2DD761342B5E74');
INSERT INTO device_presence VALUES('SN-C002',0,1796268902256,1796268902256,'127.0.0.1',1796268891,4,'CF28B61241D0F7851C259DC8FC07F94A6308550D88DF7E186CCFFA963EB2B197');
INSERT INTO device_presence VALUES('SN-C003',0,1796268903424,1796268903424,'127.0.0.1',1796268891,5,'9EDF614C9342A03E1A99E902F597232DAACD605280B43B93C8DBE955BC29A51D');
INSERT INTO device_presence VALUES('SN-C004',0,1796268904620,1796268904620,'127.0.0.1',1796268891,6,'17BBA06CD2498778832B6BE94DD1756392910CED0339299EA721678DE8942C58');
INSERT INTO device_presence VALUES('SN-C005',0,1796268905582,1796268905582,'127.0.0.1',1796268891,7,'9F3E6F42184E111B66BE57574F0A7274EB24F355C655EBF61631C88236625D79');
INSERT INTO device_presence VALUES('SN-C006',0,1796268907770,1796268907770,'127.0.0.1',1796268891,8,'FB624A384C2315B0DEFCBDB0542D8028F727D1AD5C6A39FA2E74FCB4D0B0B5D7');
INSERT INTO device_presence VALUES('SN-C010',0,1796268910857,1796268910857,'127.0.0.1',1796268908,2,'4394C9305D674084AA8E739BB70E5E876E312EABDF46F6D75B57B561550CC14C');
CREATE TABLE presence_history (
  id               INTEGER PRIMARY KEY,
  device_id        TEXT    NOT NULL,
  event            TEXT    NOT NULL CHECK (event IN ('connected', 'disconnected', 'rejected')),
  client_id        TEXT    NOT NULL,
  cert_fingerprint TEXT    NOT NULL,
  issuer           TEXT    NOT NULL,
  serial           TEXT    NOT NULL,
  address          TEXT    NOT NULL,
  protocol_version INTEGER NOT NULL,
  broker_epoch     INTEGER NOT NULL,
  conn_seq         INTEGER NOT NULL,
  at               INTEGER NOT NULL,
  reason           TEXT    NOT NULL
) STRICT;
INSERT INTO presence_history VALUES(1,'SN-C000','connected','SN-C000','61466E32A9D14563DC22B2423D8582FF6A547590FF60C78D30899BD95F61D30B','CN=test,O=smartproduct','707330F71B3EF4EC7D0DBE1E2EAF1149','127.0.0.1',5,1796268891,2,1796268894719,'');
INSERT INTO presence_history VALUES(2,'SN-C000','disconnected','SN-C000','61466E32A9D14563DC22B2423D8582FF6A547590FF60C78D30899BD95F61D30B','CN=test,O=smartproduct','707330F71B3EF4EC7D0DBE1E2EAF1149','127.0.0.1',5,1796268891,2,1796268895848,'');
INSERT INTO presence_history VALUES(3,'SN-C001','connected','SN-C001','E1040099DBFD87378D195F123CD96CDDF0ABF5A1D5F3F08D9C2DD761342B5E74','CN=test,O=smartproduct','3D5FDF6576780FE463ABB4AEF58B1043','127.0.0.1',5,1796268891,3,1796268895955,'');
INSERT INTO presence_history VALUES(4,'SN-C001','disconnected','SN-C001','E1040099DBFD87378D195F123CD96CDDF0ABF5A1D5F3F08D9C2DD761342B5E74','CN=test,O=smartproduct','3D5FDF6576780FE463ABB4AEF58B1043','127.0.0.1',5,1796268891,3,1796268897022,'');
INSERT INTO presence_history VALUES(5,'SN-C002','connected','SN-C002','CF28B61241D0F7851C259DC8FC07F94A6308550D88DF7E186CCFFA963EB2B197','CN=test,O=smartproduct','1141360B4B225FDD68C159C12038C631','127.0.0.1',5,1796268891,4,1796268897089,'');
INSERT INTO presence_history VALUES(6,'SN-C002','disconnected','SN-C002','CF28B61241D0F7851C259DC8FC07F94A6308550D88DF7E186CCFFA963EB2B197','CN=test,O=smartproduct','1141360B4B225FDD68C159C12038C631','127.0.0.1',5,1796268891,4,1796268902256,'');
INSERT INTO presence_history VALUES(7,'SN-C003','connected','SN-C003','9EDF614C9342A03E1A99E902F597232DAACD605280B43B93C8DBE955BC29A51D','CN=test,O=smartproduct','6305C59CEF59248DA78F48A7516D53B4','127.0.0.1',5,1796268891,5,1796268902330,'');
INSERT INTO presence_history VALUES(8,'SN-C003','disconnected','SN-C003','9EDF614C9342A03E1A99E902F597232DAACD605280B43B93C8DBE955BC29A51D','CN=test,O=smartproduct','6305C59CEF59248DA78F48A7516D53B4','127.0.0.1',5,1796268891,5,1796268903424,'');
INSERT INTO presence_history VALUES(9,'SN-C004','connected','SN-C004','17BBA06CD2498778832B6BE94DD1756392910CED0339299EA721678DE8942C58','CN=test,O=smartproduct','7EB72D131046DC47964C89A648024AA3','127.0.0.1',5,1796268891,6,1796268903508,'');
INSERT INTO presence_history VALUES(10,'SN-C005','connected','SN-C005','9F3E6F42184E111B66BE57574F0A7274EB24F355C655EBF61631C88236625D79','CN=test,O=smartproduct','2C536EB494CF91B0380F366A2DE38843','127.0.0.1',5,1796268891,7,1796268903549,'');
INSERT INTO presence_history VALUES(11,'SN-C004','disconnected','SN-C004','17BBA06CD2498778832B6BE94DD1756392910CED0339299EA721678DE8942C58','CN=test,O=smartproduct','7EB72D131046DC47964C89A648024AA3','127.0.0.1',5,1796268891,6,1796268904620,'');
INSERT INTO presence_history VALUES(12,'SN-C005','disconnected','SN-C005','9F3E6F42184E111B66BE57574F0A7274EB24F355C655EBF61631C88236625D79','CN=test,O=smartproduct','2C536EB494CF91B0380F366A2DE38843','127.0.0.1',5,1796268891,7,1796268905582,'');
INSERT INTO presence_history VALUES(13,'SN-C006','connected','SN-C006','FB624A384C2315B0DEFCBDB0542D8028F727D1AD5C6A39FA2E74FCB4D0B0B5D7','CN=test,O=smartproduct','1A25C99483F51DCF109F81EFA25ED60D','127.0.0.1',5,1796268891,8,1796268905660,'');
INSERT INTO presence_history VALUES(14,'SN-C006','disconnected','SN-C006','FB624A384C2315B0DEFCBDB0542D8028F727D1AD5C6A39FA2E74FCB4D0B0B5D7','CN=test,O=smartproduct','1A25C99483F51DCF109F81EFA25ED60D','127.0.0.1',5,1796268891,8,1796268907770,'');
INSERT INTO presence_history VALUES(15,'SN-C010','connected','SN-C010','4394C9305D674084AA8E739BB70E5E876E312EABDF46F6D75B57B561550CC14C','CN=test,O=smartproduct','713807AD0ED04FAF8C0A8BD8071A2BFC','127.0.0.1',5,1796268908,2,1796268908721,'');
INSERT INTO presence_history VALUES(16,'SN-C010','disconnected','SN-C010','4394C9305D674084AA8E739BB70E5E876E312EABDF46F6D75B57B561550CC14C','CN=test,O=smartproduct','713807AD0ED04FAF8C0A8BD8071A2BFC','127.0.0.1',5,1796268908,2,1796268910857,'');
CREATE TABLE users (
  id             TEXT    PRIMARY KEY,
  email          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
  password_hash  TEXT    NOT NULL,
  role           TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
  enabled        INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  email_verified INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
  name           TEXT    NOT NULL DEFAULT '',
  phone          TEXT    NOT NULL DEFAULT '',
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
, token_generation INTEGER NOT NULL DEFAULT 0 CHECK (token_generation >= 0)) STRICT;
INSERT INTO users VALUES('oj91Z_4vRYP_WNzfKvTj7w','cmd-admin@example.com','$argon2id$v=19$m=65536,t=2,p=1$9skhIfww2g7Gva1g4Ea5cA$zDavC3h2f/6QQvl5SVsTVssEzkkGBJxYpDCnXtFgjnI','admin',1,1,'','',1796268892,1796268892,0);
INSERT INTO users VALUES('zAyFQmOM_5Pmvti6uYhZUg','alice@example.com','$argon2id$v=19$m=65536,t=2,p=1$9VTFUAZbjC36SOfUg+IM9Q$a3C8a5jy88/WNKjiiTTw3rYxcpiSMYaxJANH3GVUuAo','user',1,1,'','',1796268893,1796268893,0);
INSERT INTO users VALUES('5-hxQxXVGvm2jmJ3B3TvoA','bob@example.com','$argon2id$v=19$m=65536,t=2,p=1$C1/XRNRi81aOX3wZT2PrtQ$B2rboF9qZxzs/yLrKkY7nrAKrTo3OGV3s4st6RJ1gIY','user',1,1,'','',1796268894,1796268894,0);
CREATE TABLE one_time_codes (
  user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose    TEXT    NOT NULL CHECK (purpose IN ('verify-email', 'reset-password')),
  code_hash  TEXT    NOT NULL,
  expires_at INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, purpose)
) STRICT;
INSERT INTO one_time_codes VALUES('zAyFQmOM_5Pmvti6uYhZUg','reset-password','$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g',1764723600,1);
CREATE TABLE refresh_tokens (
  token_hash TEXT    PRIMARY KEY,
  family_id  TEXT    NOT NULL,
  user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  issued_at  INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER,
  revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT;
INSERT INTO refresh_tokens VALUES('7a929d14b94450f46763c74c986e3e7101fb110526c8645ff0d2833bf840ab2e','E7dA4-duJu5LNZ9C-Sc_EA','oj91Z_4vRYP_WNzfKvTj7w',1796268892,1798860892,NULL,0);
INSERT INTO refresh_tokens VALUES('c37cd699a90c1fe1867bed11b9d08ba0b8d9454ad4227e4ed8480041983063aa','VAMxVSb26a0-TPbA1X0H2w','zAyFQmOM_5Pmvti6uYhZUg',1796268893,1798860893,NULL,0);
INSERT INTO refresh_tokens VALUES('1c42aa0e2b2b4d8e1a2fff37ca54c931dfe229e4aa945f91cf09282d303cdf7c','6qR4QF1Vh89iogqj2ulkGQ','5-hxQxXVGvm2jmJ3B3TvoA',1796268894,1798860894,NULL,0);
CREATE TABLE login_failures (
  key          TEXT    PRIMARY KEY,
  count        INTEGER NOT NULL,
  window_start INTEGER NOT NULL
) STRICT;
INSERT INTO login_failures VALUES('login:127.0.0.1',2,1764720000);
CREATE TABLE audit_log (
  id     INTEGER PRIMARY KEY,
  at     INTEGER NOT NULL,
  actor  TEXT    NOT NULL,
  action TEXT    NOT NULL,
  target TEXT    NOT NULL,
  detail TEXT    NOT NULL
) STRICT;
INSERT INTO audit_log VALUES(1,1796268892,'','user.created','oj91Z_4vRYP_WNzfKvTj7w','{"email":"cmd-admin@example.com","role":"admin"}');
INSERT INTO audit_log VALUES(2,1796268892,'oj91Z_4vRYP_WNzfKvTj7w','auth.login','oj91Z_4vRYP_WNzfKvTj7w','');
INSERT INTO audit_log VALUES(3,1796268893,'','user.created','zAyFQmOM_5Pmvti6uYhZUg','{"email":"alice@example.com","role":"user"}');
INSERT INTO audit_log VALUES(4,1796268893,'zAyFQmOM_5Pmvti6uYhZUg','auth.login','zAyFQmOM_5Pmvti6uYhZUg','');
INSERT INTO audit_log VALUES(5,1796268894,'','user.created','5-hxQxXVGvm2jmJ3B3TvoA','{"email":"bob@example.com","role":"user"}');
INSERT INTO audit_log VALUES(6,1796268894,'5-hxQxXVGvm2jmJ3B3TvoA','auth.login','5-hxQxXVGvm2jmJ3B3TvoA','');
CREATE TABLE settings (
  setting_id TEXT    PRIMARY KEY,
  setting    TEXT    NOT NULL CHECK (json_valid(setting)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
INSERT INTO settings VALUES('app-config','{"idp":"smartproduct"}',1796268891782,1796268891782);
INSERT INTO settings VALUES('oj91Z_4vRYP_WNzfKvTj7w','{"alertLevel":["error","warning"],"sendNotification":false}',1796268892634,1796268892634);
INSERT INTO settings VALUES('zAyFQmOM_5Pmvti6uYhZUg','{"alertLevel":["error","warning"],"sendNotification":false}',1796268893410,1796268893410);
INSERT INTO settings VALUES('5-hxQxXVGvm2jmJ3B3TvoA','{"alertLevel":["error","warning"],"sendNotification":false}',1796268894095,1796268894095);
CREATE TABLE catalog (
  device_id       TEXT    NOT NULL CHECK (length(device_id) BETWEEN 1 AND 128),
  model_number    TEXT    NOT NULL CHECK (length(model_number) BETWEEN 1 AND 64),
  details         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
  claim_code_hash TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (device_id, model_number)
) STRICT, WITHOUT ROWID;
INSERT INTO catalog VALUES('SN-C000','25HNB9','{}',NULL,1796268894527,1796268894527);
INSERT INTO catalog VALUES('SN-C001','25HNB9','{}',NULL,1796268894538,1796268894538);
INSERT INTO catalog VALUES('SN-C002','25HNB9','{}',NULL,1796268894551,1796268894551);
INSERT INTO catalog VALUES('SN-C003','25HNB9','{}',NULL,1796268894555,1796268894555);
INSERT INTO catalog VALUES('SN-C004','25HNB9','{}',NULL,1796268894559,1796268894559);
INSERT INTO catalog VALUES('SN-C005','25HNB9','{}',NULL,1796268894563,1796268894563);
INSERT INTO catalog VALUES('SN-C006','25HNB9','{}',NULL,1796268894567,1796268894567);
INSERT INTO catalog VALUES('SN-C007','25HNB9','{}',NULL,1796268894571,1796268894571);
INSERT INTO catalog VALUES('SN-C008','25HNB9','{}',NULL,1796268894575,1796268894575);
INSERT INTO catalog VALUES('SN-C009','25HNB9','{}',NULL,1796268894579,1796268894579);
INSERT INTO catalog VALUES('SN-C010','25HNB9','{}',NULL,1796268894583,1796268894583);
INSERT INTO catalog VALUES('SN-C011','25HNB9','{}',NULL,1796268894587,1796268894587);
INSERT INTO catalog VALUES('SN-G000','25HNB9','{"commands":{"set-brightness":{"field":"brightness","max":100,"min":0,"type":"number"},"set-color":{"field":"color","type":"enum","values":["red","green"]}}}',NULL,1796268894591,1796268894591);
CREATE TABLE registrations (
  id           INTEGER PRIMARY KEY,
  device_id    TEXT    NOT NULL CHECK (length(device_id) BETWEEN 1 AND 128),
  user_id      TEXT    NOT NULL,
  device_name  TEXT    NOT NULL CHECK (length(device_name) BETWEEN 1 AND 128),
  model_number TEXT    NOT NULL CHECK (length(model_number) BETWEEN 1 AND 64),
  details      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
  status       TEXT    NOT NULL CHECK (status IN ('pending', 'complete', 'deleted')),
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  activated_at INTEGER,
  deleted_at   INTEGER
) STRICT;
INSERT INTO registrations VALUES(1,'SN-C000','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C000','25HNB9','{}','pending',1796268894596,1796268894596,NULL,NULL);
INSERT INTO registrations VALUES(2,'SN-C001','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C001','25HNB9','{}','pending',1796268894601,1796268894601,NULL,NULL);
INSERT INTO registrations VALUES(3,'SN-C002','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C002','25HNB9','{}','pending',1796268894605,1796268894605,NULL,NULL);
INSERT INTO registrations VALUES(4,'SN-C003','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C003','25HNB9','{}','pending',1796268894614,1796268894614,NULL,NULL);
INSERT INTO registrations VALUES(5,'SN-C004','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C004','25HNB9','{}','pending',1796268894619,1796268894619,NULL,NULL);
INSERT INTO registrations VALUES(6,'SN-C005','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C005','25HNB9','{}','pending',1796268894624,1796268894624,NULL,NULL);
INSERT INTO registrations VALUES(7,'SN-C006','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C006','25HNB9','{}','pending',1796268894628,1796268894628,NULL,NULL);
INSERT INTO registrations VALUES(8,'SN-C007','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C007','25HNB9','{}','deleted',1796268894632,1796268907817,NULL,1796268907817);
INSERT INTO registrations VALUES(9,'SN-C008','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C008','25HNB9','{}','pending',1796268894636,1796268894636,NULL,NULL);
INSERT INTO registrations VALUES(10,'SN-C009','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C009','25HNB9','{}','pending',1796268894640,1796268894640,NULL,NULL);
INSERT INTO registrations VALUES(11,'SN-C010','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C010','25HNB9','{}','pending',1796268894645,1796268894645,NULL,NULL);
INSERT INTO registrations VALUES(12,'SN-C011','zAyFQmOM_5Pmvti6uYhZUg','name-SN-C011','25HNB9','{}','pending',1796268894649,1796268894649,NULL,NULL);
INSERT INTO registrations VALUES(13,'SN-G000','zAyFQmOM_5Pmvti6uYhZUg','name-SN-G000','25HNB9','{"commands":{"set-brightness":{"field":"brightness","max":100,"min":0,"type":"number"},"set-color":{"field":"color","type":"enum","values":["red","green"]}}}','pending',1796268894654,1796268894654,NULL,NULL);
CREATE TABLE certificate_authorities (
  id                TEXT    PRIMARY KEY,
  name              TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  subject           TEXT    NOT NULL,
  issuer            TEXT    NOT NULL,
  serial            TEXT    NOT NULL,
  fingerprint       TEXT    NOT NULL UNIQUE,
  not_before        INTEGER NOT NULL,
  not_after         INTEGER NOT NULL,
  certificate_pem   TEXT    NOT NULL,
  status            TEXT    NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE', 'DEREGISTERED')),
  auto_registration INTEGER NOT NULL CHECK (auto_registration IN (0, 1)),
  managed           INTEGER NOT NULL CHECK (managed IN (0, 1)),
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
) STRICT;
INSERT INTO certificate_authorities VALUES('7F8B908C64E4D87688886B715592AA19773DD0C7','test','CN=test,O=smartproduct','CN=test,O=smartproduct','392E2C5EBB742720B069CE332ED9A3A8','B3A8AFCEA4ED8229C608D4DE95480D807D909EBF41E9C253F169EEC8A730A56A',1796268591,2111628891,replace('-----BEGIN CERTIFICATE-----\nMIIBsDCCAVagAwIBAgIQOS4sXrt0JyCwac4zLtmjqDAKBggqhkjOPQQDAjAmMRUw\nEwYDVQQKDAxzbWFydHByb2R1Y3QxDTALBgNVBAMMBHRlc3QwHhcNMjYxMjAzMDMy\nOTUxWhcNMzYxMTMwMDMzNDUxWjAmMRUwEwYDVQQKDAxzbWFydHByb2R1Y3QxDTAL\nBgNVBAMMBHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASAq1VS00WIIQzb\nakjFERunNmy99Pa16fIaUzd4vOrQbk7zKzZAo2hC0PuvNzpc4QU0h3fAzfdhFPAY\nL3ZcMSGso2YwZDASBgNVHRMBAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBBjAd\nBgNVHQ4EFgQUf4uQjGTk2HaIiGtxVZKqGXc90McwHwYDVR0jBBgwFoAUf4uQjGTk\n2HaIiGtxVZKqGXc90McwCgYIKoZIzj0EAwIDSAAwRQIhAPbHksjNsSJr7SECt4ws\nqxcfdj8K0omGljejxRohiHr9AiB8RKjHSwF7DV/wdPEyXleYQPW38gZOF8m1Dro4\n5x2vyg==\n-----END CERTIFICATE-----\n','\n',char(10)),'ACTIVE',1,1,1796268891843,1796268891843);
CREATE TABLE device_certificates (
  fingerprint     TEXT    PRIMARY KEY,
  device_id       TEXT    NOT NULL,
  ca_id           TEXT    NOT NULL,
  issuer          TEXT    NOT NULL,
  serial          TEXT    NOT NULL,
  not_before      INTEGER,
  not_after       INTEGER,
  status          TEXT    NOT NULL
                  CHECK (status IN ('PENDING_ACTIVATION', 'ACTIVE', 'REVOKED', 'REFUSED')),
  status_reason   TEXT    NOT NULL DEFAULT '',
  registration_id INTEGER REFERENCES registrations (id),
  first_seen_at   INTEGER NOT NULL,
  last_seen_at    INTEGER NOT NULL,
  activated_at    INTEGER,
  revoked_at      INTEGER,
  updated_at      INTEGER NOT NULL
) STRICT;
INSERT INTO device_certificates VALUES('AB:CD:00:01','SN-C000','7F8B908C64E4D87688886B715592AA19773DD0C7','CN=test','01',1764700000,1796236000,'ACTIVE','',1,1764720000000,1764720000000,1764720000000,NULL,1764720000000);
INSERT INTO device_certificates VALUES('AB:CD:00:02','SN-C001','7F8B908C64E4D87688886B715592AA19773DD0C7','CN=test','02',1764700000,1796236000,'REVOKED','device deleted',2,1764720000000,1764720000000,1764720000000,1764720100000,1764720100000);
CREATE TABLE security_events (
  id               INTEGER PRIMARY KEY,
  at               INTEGER NOT NULL,
  kind             TEXT    NOT NULL,
  device_id        TEXT    NOT NULL,
  cert_fingerprint TEXT    NOT NULL,
  ca_id            TEXT    NOT NULL,
  detail           TEXT    NOT NULL
) STRICT;
INSERT INTO security_events VALUES(1,1764720000000,'refused','SN-X999','AB:CD:00:03','7F8B908C64E4D87688886B715592AA19773DD0C7','not in catalog');
CREATE TABLE broker_state_revision (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL
) STRICT;
INSERT INTO broker_state_revision VALUES(1,1);
CREATE TABLE shadows (
  device_id  TEXT    PRIMARY KEY CHECK (length(device_id) BETWEEN 1 AND 128),
  state      TEXT    NOT NULL CHECK (json_valid(state)),
  metadata   TEXT    NOT NULL CHECK (json_valid(metadata)),
  version    INTEGER NOT NULL CHECK (version >= 0),
  updated_at INTEGER NOT NULL,
  deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
) STRICT;
INSERT INTO shadows VALUES('SN-C000','{"desired":{"targetTemperature":72.5},"reported":{}}','{"desired":{"targetTemperature":{"timestamp":1796268894}},"reported":{}}',1,1796268894,0);
INSERT INTO shadows VALUES('SN-C001','{"desired":{"powerStatus":"AC"},"reported":{}}','{"desired":{"powerStatus":{"timestamp":1796268895}},"reported":{}}',1,1796268895,0);
INSERT INTO shadows VALUES('SN-C002','{"desired":{"powerStatus":"OFF","targetTemperature":70},"reported":{}}','{"desired":{"powerStatus":{"timestamp":1796268897},"targetTemperature":{"timestamp":1796268897}},"reported":{}}',2,1796268897,0);
INSERT INTO shadows VALUES('SN-C003','{"desired":{"powerStatus":"AC","targetTemperature":75},"reported":{}}','{"desired":{"powerStatus":{"timestamp":1796268902},"targetTemperature":{"timestamp":1796268902}},"reported":{}}',3,1796268902,0);
INSERT INTO shadows VALUES('SN-C004','{"desired":{"powerStatus":"HEAT"},"reported":{}}','{"desired":{"powerStatus":{"timestamp":1796268903}},"reported":{}}',1,1796268903,0);
INSERT INTO shadows VALUES('SN-C006','{"desired":{"targetTemperature":66},"reported":{}}','{"desired":{"targetTemperature":{"timestamp":1796268905}},"reported":{}}',1,1796268905,0);
INSERT INTO shadows VALUES('SN-C007','{"desired":{"targetTemperature":72.25},"reported":{}}','{"desired":{"targetTemperature":{"timestamp":1796268907}},"reported":{}}',1,1796268907,0);
INSERT INTO shadows VALUES('SN-C008','{"desired":{"targetTemperature":64},"reported":{}}','{"desired":{"targetTemperature":{"timestamp":1796268907}},"reported":{}}',5,1796268907,0);
INSERT INTO shadows VALUES('SN-C009','{"desired":{"powerStatus":"OFF"},"reported":{}}','{"desired":{"powerStatus":{"timestamp":1796268907}},"reported":{}}',1,1796268907,0);
INSERT INTO shadows VALUES('SN-G000','{"desired":{"brightness":40,"color":"red"},"reported":{}}','{"desired":{"brightness":{"timestamp":1796268908},"color":{"timestamp":1796268908}},"reported":{}}',2,1796268908,0);
INSERT INTO shadows VALUES('SN-C010','{"desired":{"targetTemperature":80},"reported":{}}','{"desired":{"targetTemperature":{"timestamp":1796268908}},"reported":{}}',1,1796268908,0);
CREATE TABLE commands (
  id          TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
  device_id   TEXT    NOT NULL CHECK (length(device_id) BETWEEN 1 AND 128),
  owner       TEXT    NOT NULL,
  command     TEXT    NOT NULL CHECK (length(command) BETWEEN 1 AND 64),
  value       TEXT    NOT NULL CHECK (json_valid(value)),
  details     TEXT    NOT NULL CHECK (json_valid(details)),
  field       TEXT    NOT NULL,
  status      TEXT    NOT NULL CHECK (status IN ('pending', 'success', 'failed', 'superseded')),
  reason      TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
) STRICT;
INSERT INTO commands VALUES('9424b5a7-5782-4980-8307-b999896f4eca','SN-C000','zAyFQmOM_5Pmvti6uYhZUg','set-temp','72.5','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":72.5}','targetTemperature','success','set to 72.5',1796268894727,1796268894770,1796268898727);
INSERT INTO commands VALUES('e705f32e-568a-4492-9aca-72da5c8335c4','SN-C001','zAyFQmOM_5Pmvti6uYhZUg','set-mode','"AC"','{"actualTemperature":70,"powerStatus":"AC","targetTemperature":72}','powerStatus','success','success',1796268895961,1796268896018,1796268899961);
INSERT INTO commands VALUES('0b320485-4245-40c1-b771-163aa9f72485','SN-C002','zAyFQmOM_5Pmvti6uYhZUg','set-mode','"OFF"','{"actualTemperature":70,"powerStatus":"OFF","targetTemperature":72}','powerStatus','failed','timeout',1796268897099,1796268901166,1796268901099);
INSERT INTO commands VALUES('12226c05-ef63-4591-80cc-85e4d32ca72d','SN-C002','zAyFQmOM_5Pmvti6uYhZUg','set-temp','70','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":70}','targetTemperature','failed','timeout',1796268897106,1796268898158,1796268898106);
INSERT INTO commands VALUES('caa3cb36-32cc-4efe-84df-63b10d5f16a7','SN-C003','zAyFQmOM_5Pmvti6uYhZUg','set-temp','71','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":71}','targetTemperature','superseded','superseded by 7682001e-413e-4fce-99e5-f6db646834f7',1796268902351,1796268902379,1796268906351);
INSERT INTO commands VALUES('04b0e01a-fc75-4bf1-85c6-382b73884d18','SN-C003','zAyFQmOM_5Pmvti6uYhZUg','set-mode','"AC"','{"actualTemperature":70,"powerStatus":"AC","targetTemperature":72}','powerStatus','failed','timeout',1796268902367,1796268906426,1796268906367);
INSERT INTO commands VALUES('7682001e-413e-4fce-99e5-f6db646834f7','SN-C003','zAyFQmOM_5Pmvti6uYhZUg','set-temp','75','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":75}','targetTemperature','success','applied',1796268902379,1796268902447,1796268906379);
INSERT INTO commands VALUES('4ad6caba-394d-4af3-8424-7b341e1a22ea','SN-C004','zAyFQmOM_5Pmvti6uYhZUg','set-mode','"HEAT"','{"actualTemperature":70,"powerStatus":"HEAT","targetTemperature":72}','powerStatus','success','ok',1796268903553,1796268903618,1796268907553);
INSERT INTO commands VALUES('10c40342-1278-45eb-a1f1-50e25c33935d','SN-C006','zAyFQmOM_5Pmvti6uYhZUg','set-temp','66','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":66}','targetTemperature','success','applied',1796268905639,1796268906727,1796268909639);
INSERT INTO commands VALUES('5a098af6-72f5-48ba-96f2-1de087440e72','SN-C007','zAyFQmOM_5Pmvti6uYhZUg','set-temp','72.25','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":72.25}','targetTemperature','failed','device deleted',1796268907807,1796268907838,1796268911807);
INSERT INTO commands VALUES('9ce48c4d-9f98-4014-941e-5e851f7eba38','SN-C008','zAyFQmOM_5Pmvti6uYhZUg','set-temp','60','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":60}','targetTemperature','superseded','superseded by 00f33495-5ccb-4089-9816-2c21e921e5bc',1796268907907,1796268907923,1796268911907);
INSERT INTO commands VALUES('00f33495-5ccb-4089-9816-2c21e921e5bc','SN-C008','zAyFQmOM_5Pmvti6uYhZUg','set-temp','61','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":61}','targetTemperature','superseded','superseded by 48d7eedd-fc54-400f-9675-a8dfc7166957',1796268907923,1796268907930,1796268911923);
INSERT INTO commands VALUES('48d7eedd-fc54-400f-9675-a8dfc7166957','SN-C008','zAyFQmOM_5Pmvti6uYhZUg','set-temp','62','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":62}','targetTemperature','superseded','superseded by 25b50f9c-0b20-4278-8a37-604ed24fb5af',1796268907930,1796268907943,1796268911930);
INSERT INTO commands VALUES('25b50f9c-0b20-4278-8a37-604ed24fb5af','SN-C008','zAyFQmOM_5Pmvti6uYhZUg','set-temp','63','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":63}','targetTemperature','superseded','superseded by 1ab2dbf7-d297-4b18-8df9-8db014fc16ae',1796268907943,1796268907955,1796268911943);
INSERT INTO commands VALUES('1ab2dbf7-d297-4b18-8df9-8db014fc16ae','SN-C008','zAyFQmOM_5Pmvti6uYhZUg','set-temp','64','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":64}','targetTemperature','pending',NULL,1796268907955,1796268907955,1796268911955);
INSERT INTO commands VALUES('2b132c22-d430-4bd4-9d48-f2cdf7443494','SN-C009','zAyFQmOM_5Pmvti6uYhZUg','set-mode','"OFF"','{"actualTemperature":70,"powerStatus":"OFF","targetTemperature":72}','powerStatus','pending',NULL,1796268907993,1796268907993,1796268911993);
INSERT INTO commands VALUES('79e2a308-455c-4629-a51d-bb61c63f854e','SN-G000','zAyFQmOM_5Pmvti6uYhZUg','set-brightness','40','{"brightness":40,"command":"set-brightness","value":40}','brightness','pending',NULL,1796268908007,1796268908007,1796268912007);
INSERT INTO commands VALUES('134c707f-2009-4f64-85d4-d8354f1d7453','SN-G000','zAyFQmOM_5Pmvti6uYhZUg','set-color','"red"','{"color":"red","command":"set-color","value":"red"}','color','pending',NULL,1796268908030,1796268908030,1796268912030);
INSERT INTO commands VALUES('1b847a97-19c4-4349-92f4-e22009308523','SN-C010','zAyFQmOM_5Pmvti6uYhZUg','set-temp','80','{"actualTemperature":68.2,"powerStatus":"HEAT","targetTemperature":80}','targetTemperature','success','applied',1796268908120,1796268909854,1796269028120);
CREATE TABLE fleet_index (
  device_id TEXT NOT NULL,
  path      TEXT NOT NULL,
  str       TEXT,
  num       REAL,
  CHECK ((str IS NULL) != (num IS NULL))
) STRICT;
INSERT INTO fleet_index VALUES('SN-C000','shadow.desired.targetTemperature',NULL,72.5);
INSERT INTO fleet_index VALUES('SN-C000','shadow.version',NULL,1.0);
INSERT INTO fleet_index VALUES('SN-C001','shadow.desired.powerStatus','AC',NULL);
INSERT INTO fleet_index VALUES('SN-C001','shadow.version',NULL,1.0);
INSERT INTO fleet_index VALUES('SN-C002','shadow.desired.powerStatus','OFF',NULL);
INSERT INTO fleet_index VALUES('SN-C002','shadow.desired.targetTemperature',NULL,70.0);
INSERT INTO fleet_index VALUES('SN-C002','shadow.version',NULL,2.0);
INSERT INTO fleet_index VALUES('SN-C003','shadow.desired.powerStatus','AC',NULL);
INSERT INTO fleet_index VALUES('SN-C003','shadow.desired.targetTemperature',NULL,75.0);
INSERT INTO fleet_index VALUES('SN-C003','shadow.version',NULL,3.0);
INSERT INTO fleet_index VALUES('SN-C004','shadow.desired.powerStatus','HEAT',NULL);
INSERT INTO fleet_index VALUES('SN-C004','shadow.version',NULL,1.0);
INSERT INTO fleet_index VALUES('SN-C006','shadow.desired.targetTemperature',NULL,66.0);
INSERT INTO fleet_index VALUES('SN-C006','shadow.version',NULL,1.0);
INSERT INTO fleet_index VALUES('SN-C007','shadow.desired.targetTemperature',NULL,72.249999999999999999);
INSERT INTO fleet_index VALUES('SN-C007','shadow.version',NULL,1.0);
INSERT INTO fleet_index VALUES('SN-C008','shadow.desired.targetTemperature',NULL,64.0);
INSERT INTO fleet_index VALUES('SN-C008','shadow.version',NULL,5.0);
INSERT INTO fleet_index VALUES('SN-C009','shadow.desired.powerStatus','OFF',NULL);
INSERT INTO fleet_index VALUES('SN-C009','shadow.version',NULL,1.0);
INSERT INTO fleet_index VALUES('SN-G000','shadow.desired.brightness',NULL,40.0);
INSERT INTO fleet_index VALUES('SN-G000','shadow.desired.color','red',NULL);
INSERT INTO fleet_index VALUES('SN-G000','attributes.commands."set-brightness".field','brightness',NULL);
INSERT INTO fleet_index VALUES('SN-G000','attributes.commands."set-brightness".max',NULL,100.0);
INSERT INTO fleet_index VALUES('SN-G000','attributes.commands."set-brightness".min',NULL,0.0);
INSERT INTO fleet_index VALUES('SN-G000','attributes.commands."set-brightness".type','number',NULL);
INSERT INTO fleet_index VALUES('SN-G000','attributes.commands."set-color".field','color',NULL);
INSERT INTO fleet_index VALUES('SN-G000','attributes.commands."set-color".type','enum',NULL);
INSERT INTO fleet_index VALUES('SN-G000','attributes.commands."set-color".values','red',NULL);
INSERT INTO fleet_index VALUES('SN-G000','attributes.commands."set-color".values','green',NULL);
INSERT INTO fleet_index VALUES('SN-G000','shadow.version',NULL,2.0);
INSERT INTO fleet_index VALUES('SN-C010','shadow.desired.targetTemperature',NULL,80.0);
INSERT INTO fleet_index VALUES('SN-C010','shadow.version',NULL,1.0);
CREATE TABLE notification_outbox (
  id         INTEGER PRIMARY KEY,
  user_id    TEXT    NOT NULL,
  device_id  TEXT,
  kind       TEXT    NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
  group_key  TEXT    NOT NULL,
  payload    TEXT    NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
  created_at INTEGER NOT NULL
) STRICT;
INSERT INTO notification_outbox VALUES(1,'zAyFQmOM_5Pmvti6uYhZUg','SN-C000','alert','SN-C000|warning|Temperature out of band','{"alertId":"a1","eventId":"7d3b1f2e-0000-4000-8000-000000000001","deviceId":"SN-C000","deviceName":"name-SN-C000","eventType":"warning","message":"Temperature out of band","value":115,"createdAt":"2026-12-03T00:00:00.100Z","occurrences":1}',1764720000200);
CREATE UNIQUE INDEX events_dedup ON events (device_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX events_device_time ON events (device_id, timestamp DESC);
CREATE INDEX events_user_time ON events (user_id, timestamp DESC) WHERE user_id IS NOT NULL;
CREATE INDEX device_presence_connected ON device_presence (connected, broker_epoch);
CREATE INDEX presence_history_device ON presence_history (device_id, id DESC);
CREATE INDEX users_created ON users (created_at, id);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
CREATE INDEX catalog_model ON catalog (model_number, device_id);
CREATE UNIQUE INDEX registrations_live ON registrations (device_id) WHERE status != 'deleted';
CREATE INDEX registrations_device ON registrations (device_id, id DESC);
CREATE INDEX registrations_user_name ON registrations (user_id, device_name, device_id, id);
CREATE UNIQUE INDEX certificate_authorities_name ON certificate_authorities (name)
  WHERE status != 'DEREGISTERED';
CREATE INDEX device_certificates_device ON device_certificates (device_id, first_seen_at);
CREATE INDEX device_certificates_status ON device_certificates (status, device_id);
CREATE INDEX security_events_device ON security_events (device_id, id DESC);
CREATE INDEX commands_by_device ON commands (device_id, created_at DESC);
CREATE INDEX commands_pending ON commands (status, expires_at) WHERE status = 'pending';
CREATE UNIQUE INDEX commands_one_pending ON commands (device_id, field) WHERE status = 'pending';
CREATE INDEX fleet_index_str ON fleet_index (path, str, device_id) WHERE str IS NOT NULL;
CREATE INDEX fleet_index_num ON fleet_index (path, num, device_id) WHERE num IS NOT NULL;
CREATE INDEX fleet_index_device ON fleet_index (device_id, path);
CREATE INDEX registrations_live_user ON registrations (user_id, device_id) WHERE status != 'deleted';
CREATE INDEX registrations_live_name ON registrations (device_name, device_id)
  WHERE status != 'deleted';
CREATE INDEX registrations_live_model ON registrations (model_number, device_id)
  WHERE status != 'deleted';
CREATE VIEW fleet_index_rows AS
WITH docs (device_id, prefix, doc) AS (
  SELECT device_id, 'shadow.', state FROM shadows WHERE deleted = 0
  UNION ALL
  SELECT device_id, 'attributes.', details FROM registrations WHERE status != 'deleted')
SELECT d.device_id AS device_id,
       d.prefix || substr(IIF(typeof(t.key) = 'integer', t.path, t.fullkey), 3) AS path,
       CASE t.type WHEN 'text' THEN t.atom WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END
         AS str,
       IIF(t.type IN ('integer', 'real'), t.atom, NULL) AS num
FROM docs d, json_tree(d.doc) t
WHERE t.type NOT IN ('object', 'array', 'null')
  AND instr(IIF(typeof(t.key) = 'integer', t.path, t.fullkey), '[') = 0
UNION ALL
SELECT device_id, 'shadow.version', NULL, version FROM shadows WHERE deleted = 0;
CREATE TRIGGER fleet_index_shadow_insert AFTER INSERT ON shadows
BEGIN
  DELETE FROM fleet_index WHERE device_id = NEW.device_id;
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows WHERE device_id = NEW.device_id;
END;
CREATE TRIGGER fleet_index_shadow_update AFTER UPDATE ON shadows
BEGIN
  DELETE FROM fleet_index WHERE device_id IN (OLD.device_id, NEW.device_id);
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows
  WHERE device_id IN (OLD.device_id, NEW.device_id);
END;
CREATE TRIGGER fleet_index_shadow_delete AFTER DELETE ON shadows
BEGIN
  DELETE FROM fleet_index WHERE device_id = OLD.device_id;
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows WHERE device_id = OLD.device_id;
END;
CREATE TRIGGER fleet_index_registration_insert AFTER INSERT ON registrations
BEGIN
  DELETE FROM fleet_index WHERE device_id = NEW.device_id;
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows WHERE device_id = NEW.device_id;
END;
CREATE TRIGGER fleet_index_registration_update AFTER UPDATE OF status, details, device_id
  ON registrations
BEGIN
  DELETE FROM fleet_index WHERE device_id IN (OLD.device_id, NEW.device_id);
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows
  WHERE device_id IN (OLD.device_id, NEW.device_id);
END;
CREATE TRIGGER fleet_index_registration_delete AFTER DELETE ON registrations
BEGIN
  DELETE FROM fleet_index WHERE device_id = OLD.device_id;
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows WHERE device_id = OLD.device_id;
END;
CREATE INDEX notification_outbox_user_group ON notification_outbox (user_id, group_key, created_at);
COMMIT;
