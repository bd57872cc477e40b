"""Issue 3 (device connectivity) end to end: real devices over mutual TLS through mosquitto and our
plugin into the daemon's SQLite store."""

import json
import subprocess
import time

import pytest

from devices import PubResult, backend_args, control, count, issue_cert, metric, publish, tls_args
from harness import wait_for


def telemetry_rows(inst, device):
    return count(inst, "SELECT count(*) FROM telemetry WHERE device_id = ?", device,
                 name="telemetry.db")


def test_own_telemetry_and_events_are_stored(instance):
    issue_cert(instance, "SN-OWN-1")
    now = int(time.time() * 1000)
    r = publish(instance, "SN-OWN-1", "smartproduct/telemetry/SN-OWN-1",
                json.dumps({"actualTemperature": 71.5, "targetTemperature": 70, "timestamp": now}))
    assert r.rc == 0 and r.pubacks == [0], r
    r = publish(instance, "SN-OWN-1", "smartproduct/event/SN-OWN-1",
                json.dumps({"messageId": "m-1", "type": "warning", "message": "hot",
                            "details": {"sensor": "t1", "value": 99}, "timestamp": now,
                            "sentAt": "2026-11-27T12:00:00Z"}))
    assert r.pubacks == [0], r
    # The device's PUBACK is the broker's; the daemon stores asynchronously, so wait for it.
    wait_for(lambda: telemetry_rows(instance, "SN-OWN-1") == 1, 10, "telemetry row")
    wait_for(lambda: count(instance, "SELECT count(*) FROM events WHERE device_id='SN-OWN-1'") == 1,
             10, "event row")
    with __import__("devices").db(instance) as conn:
        row = conn.execute("SELECT type, message, message_id, timestamp, ack, suppress, sent_at "
                           "FROM events WHERE device_id = 'SN-OWN-1'").fetchone()
    assert row == ("warning", "hot", "m-1", now, 0, 0, "2026-11-27T12:00:00Z")
    with __import__("devices").db(instance, "telemetry.db") as conn:
        ts, received = conn.execute("SELECT device_ts, received_at FROM telemetry").fetchone()
    assert ts == now and received >= now


def test_event_without_timestamp_gets_receive_time(instance):
    issue_cert(instance, "SN-TS")
    before = int(time.time() * 1000)
    r = publish(instance, "SN-TS", "smartproduct/event/SN-TS",
                json.dumps({"type": "info", "message": "no time", "timestamp": "yesterday"}))
    assert r.pubacks == [0]
    wait_for(lambda: count(instance, "SELECT count(*) FROM events WHERE device_id='SN-TS'") == 1,
             10, "event row")
    with __import__("devices").db(instance) as conn:
        ts, from_device = conn.execute(
            "SELECT timestamp, timestamp_from_device FROM events WHERE device_id='SN-TS'").fetchone()
    assert from_device == 0 and before <= ts <= int(time.time() * 1000)


def test_foreign_topics_are_refused(instance):
    issue_cert(instance, "SN-A")
    issue_cert(instance, "SN-B")
    r = publish(instance, "SN-A", "smartproduct/telemetry/SN-B", '{"timestamp": 1}')
    assert r.pubacks == [135], r
    r = publish(instance, "SN-A", "smartproduct/event/SN-B", '{"type":"error"}')
    assert r.pubacks == [135], r
    crt, key = instance.dir / "devices" / "SN-A.crt", instance.dir / "devices" / "SN-A.key"
    sub = subprocess.run(["mosquitto_sub", "-V", "mqttv5", "-d", "-i", "SN-A", "-q", "1", "-C", "1",
                          "-W", "2", "-t", "smartproduct/commands/SN-B"] + tls_args(instance, crt, key),
                         capture_output=True, text=True, timeout=20)
    assert "Subscribed (mid: 1): 135" in sub.stdout + sub.stderr, sub.stdout + sub.stderr
    assert telemetry_rows(instance, "SN-B") == 0


def test_client_id_must_equal_cn(instance):
    issue_cert(instance, "SN-C")
    r = publish(instance, "SN-C", "smartproduct/telemetry/SN-C", "{}", client_id="SN-OTHER")
    assert r.rc != 0 and r.refused, r
    assert telemetry_rows(instance, "SN-C") == 0


def test_unknown_ca_is_refused_at_tls(instance, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", tmp_path / "rogue.key", "-out", tmp_path / "rogue.crt",
                    "-subj", "/CN=Rogue CA", "-days", "2"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", tmp_path / "d.key", "-out", tmp_path / "d.csr",
                    "-subj", "/CN=SN-ROGUE"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", tmp_path / "d.csr", "-CA", tmp_path / "rogue.crt",
                    "-CAkey", tmp_path / "rogue.key", "-CAcreateserial", "-out", tmp_path / "d.crt",
                    "-days", "2"], check=True, capture_output=True)
    r = publish(instance, "SN-ROGUE", "smartproduct/telemetry/SN-ROGUE", "{}",
                cert=(tmp_path / "d.crt", tmp_path / "d.key"))
    assert r.rc != 0 and not r.pubacks, r
    assert telemetry_rows(instance, "SN-ROGUE") == 0


def test_revoked_device_is_kicked_and_refused(instance):
    crt, key = issue_cert(instance, "SN-REV")
    sub = subprocess.Popen(["mosquitto_sub", "-V", "mqttv5", "-d", "-i", "SN-REV", "-q", "1",
                            "-t", "smartproduct/commands/SN-REV"] + tls_args(instance, crt, key),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: count(instance, "SELECT count(*) FROM device_presence "
                                         "WHERE device_id='SN-REV' AND connected=1") == 1,
                 15, "SN-REV connected in presence")
        answer = control(instance, [{"command": "revoke", "username": "SN-REV", "id": "t1"}])
        assert answer["responses"][0].get("kicked") == 1, answer
        sub.wait(timeout=10)  # the broker disconnected it
        wait_for(lambda: count(instance, "SELECT count(*) FROM device_presence "
                                         "WHERE device_id='SN-REV' AND connected=0") == 1,
                 15, "SN-REV offline in presence")
    finally:
        sub.kill()
        sub.wait()
    r = publish(instance, "SN-REV", "smartproduct/telemetry/SN-REV", '{"timestamp": 1}')
    assert r.rc != 0 and r.refused, r
    wait_for(lambda: count(instance, "SELECT count(*) FROM presence_history WHERE device_id='SN-REV' "
                                     "AND event='rejected' AND reason='revoked'") >= 1,
             10, "rejected event recorded")
    control(instance, [{"command": "unrevoke", "username": "SN-REV"}])
    r = publish(instance, "SN-REV", "smartproduct/telemetry/SN-REV", '{"timestamp": 2}')
    assert r.pubacks == [0], r
    wait_for(lambda: telemetry_rows(instance, "SN-REV") == 1, 10, "stored after unrevoke")


def test_bad_payloads_are_counted_and_daemon_unaffected(instance, tmp_path):
    issue_cert(instance, "SN-BAD")
    issue_cert(instance, "SN-OTHER2")
    topic = "smartproduct/telemetry/SN-BAD"
    assert publish(instance, "SN-BAD", topic, "this is not json").pubacks == [0]
    assert publish(instance, "SN-BAD", topic, "[1, 2, 3]").pubacks == [0]
    assert publish(instance, "SN-BAD", topic, '{"deviceId": "SN-OTHER2", "x": 1}').pubacks == [0]
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * (140 * 1024)}))
    assert publish(instance, "SN-BAD", topic, "", file=big).pubacks == [0]
    assert publish(instance, "SN-BAD", "smartproduct/event/SN-BAD", '{"type": "party"}').pubacks == [0]
    assert publish(instance, "SN-BAD", topic, '{"ok": true, "seq": 1}').pubacks == [0]
    # Messages are handled in order: once the last (valid) one is stored, all were seen.
    wait_for(lambda: telemetry_rows(instance, "SN-BAD") == 1, 10, "the valid message stored")
    assert telemetry_rows(instance, "SN-OTHER2") == 0
    assert metric(instance, "smartproduct_ingest_rejected_total", path="telemetry",
                  reason="malformed_json") == 1
    assert metric(instance, "smartproduct_ingest_rejected_total", path="telemetry",
                  reason="not_an_object") == 1
    assert metric(instance, "smartproduct_ingest_rejected_total", path="telemetry",
                  reason="foreign_device") == 1
    assert metric(instance, "smartproduct_ingest_rejected_total", path="telemetry",
                  reason="oversize") == 1
    assert metric(instance, "smartproduct_ingest_rejected_total", path="events",
                  reason="invalid_field") == 1
    assert instance.status("/readyz") == 200


def test_redelivered_message_is_stored_once(instance):
    issue_cert(instance, "SN-DUP")
    payload = json.dumps({"seq": 7, "timestamp": int(time.time() * 1000)})
    for _ in range(3):  # a device retrying after a lost PUBACK sends the same bytes again
        assert publish(instance, "SN-DUP", "smartproduct/telemetry/SN-DUP", payload).pubacks == [0]
    wait_for(lambda: metric(instance, "smartproduct_ingest_received_total", path="telemetry") == 3,
             10, "three deliveries handled")
    # With the ingest spool the PUBACK comes before the store: wait for the last commit.
    wait_for(lambda: metric(instance, "smartproduct_ingest_duplicates_total", path="telemetry") == 2,
             10, "two duplicates counted")
    assert telemetry_rows(instance, "SN-DUP") == 1


def test_takeover_keeps_device_online(instance):
    import paho.mqtt.client as paho

    crt, key = issue_cert(instance, "SN-TAKE")
    online = ("SELECT count(*) FROM device_presence WHERE device_id='SN-TAKE' AND connected=1")

    def client():
        c = paho.Client(client_id="SN-TAKE", protocol=paho.MQTTv5)
        c.tls_set(ca_certs=str(instance.ca), certfile=str(crt), keyfile=str(key))
        c.reconnect_delay_set(min_delay=3600, max_delay=3600)  # a taken-over client stays away
        c.connect("127.0.0.1", instance.mqtt_port, keepalive=30)
        c.loop_start()
        return c

    first = client()
    second = None
    try:
        wait_for(lambda: count(instance, online) == 1, 15, "online")
        second = client()
        # The takeover's new 'connected' arrives before the old connection's 'disconnected';
        # the late disconnect must not mark the device offline.
        wait_for(lambda: count(instance, "SELECT count(*) FROM presence_history WHERE "
                                         "device_id='SN-TAKE' AND event='disconnected'") >= 1,
                 15, "first connection's disconnect")
        # The history row and the device_presence update are one transaction: once the late
        # disconnect is in the history, its effect on device_presence (none) is visible too.
        assert count(instance, online) == 1
        history = count(instance, "SELECT count(*) FROM presence_history WHERE device_id='SN-TAKE' "
                                  "AND event='connected'")
        assert history == 2
    finally:
        for c in (first, second):
            if c:
                c.loop_stop()
                c.disconnect()
    wait_for(lambda: count(instance, online) == 0, 15, "offline after the last disconnect")
