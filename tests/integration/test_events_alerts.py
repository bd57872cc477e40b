"""Issue 13 items 1 and 2 end to end: real devices (paho, MQTT v5 over mutual TLS) publish events;
owners read them over HTTPS (every route and status code, the ownership matrix), repeats fold into
one alert with its occurrence count, the notification outbox gets one row per notifying occurrence,
suppress and acknowledge behave, and a kill -9 keeps each event and its alert group consistent.

The device's PUBACK comes from the broker; the daemon stores the event afterwards, so a test waits
until the device's events are in the database (EventDevice.event waits for its own) before it
reads."""

from __future__ import annotations

import datetime
import json
import signal
import socket
import time
import uuid

import paho.mqtt.client as paho
import pytest

from devices import count, db, issue_cert
from harness import running_instance, wait_for
from test_accounts import Api
from test_jitr import Users, add_to_catalog, register

SERIALS = [f"SN-E{n:03d}" for n in range(8)]


class EventDevice:
    """A device that publishes events on smartproduct/event/<serial> at QoS 1."""

    def __init__(self, inst, serial: str):
        self.inst = inst
        self.serial = serial
        self.stored_before = self.stored()
        self.sent = 0
        crt, key = inst.dir / "devices" / f"{serial}.crt", inst.dir / "devices" / f"{serial}.key"
        cert = (crt, key) if key.exists() else issue_cert(inst, serial)
        self.client = paho.Client(client_id=serial, protocol=paho.MQTTv5)
        self.client.tls_set(ca_certs=str(inst.ca), certfile=str(cert[0]), keyfile=str(cert[1]))
        self.client.connect("127.0.0.1", inst.mqtt_port, keepalive=30)
        self.client.loop_start()
        wait_for(self.client.is_connected, 15, f"{serial} connected")

    def event(self, type_="error", message="Temperature out of band", value=120, ts=None,
              wait=True):
        body = {"messageId": str(uuid.uuid4()), "deviceId": self.serial, "type": type_,
                "message": message, "details": {"sensor": "temp", "value": value},
                "timestamp": ts if ts is not None else int(time.time() * 1000),
                "sentAt": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        info = self.client.publish(f"smartproduct/event/{self.serial}", json.dumps(body), qos=1)
        self.sent += 1
        if wait:
            info.wait_for_publish(15)
            assert info.is_published()
            self.flush()
        return body, info

    def stored(self) -> int:
        return count(self.inst, "SELECT count(*) FROM events WHERE device_id = ?", self.serial)

    def flush(self):
        """Waits until the daemon stored every event this client sent."""
        want = self.stored_before + self.sent
        wait_for(lambda: self.stored() >= want, 20, f"{want} events of {self.serial} stored")

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(settings={"alerts": {"group_window_s": 600}})


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    admin = u.add("ev-admin@example.com", admin=True)
    for who in ("alice", "bob", "carol"):
        u.add(f"{who}@example.com")
    add_to_catalog(api, admin, SERIALS)
    return u


def tok(users, who):
    return users.tokens[f"{who}@example.com"]


def uid(users, who):
    return users.ids[f"{who}@example.com"]


def settings(api, users, who, levels, notify):
    status, _, body = api("PUT", f"/api/admin/settings/config/{uid(users, who)}",
                          {"alertLevel": levels, "sendNotification": notify}, token=tok(users, who))
    assert status == 200, body


def get(api, token, path, expect=200):
    status, _, body = api("GET", path, token=token)
    assert status == expect, body
    return body


def alert_count(api, token):
    return get(api, token, "/api/alerts/count")["alertsCount"]


def error_name(api, method, path, body=None, token=None, expect=None, headers=None):
    status, _, out = api(method, path, body, token=token, headers=headers)
    if expect is not None:
        assert status == expect, out
    return out["error"]


def oversize_put(inst, path: str, token: str):
    """A PUT declaring a body over [http] max_body_bytes (64 KiB). The server answers from the
    declared length and closes: send only the head, as test_foundation does, so the client is not
    still writing when the connection closes."""
    with inst.ssl_context().wrap_socket(socket.create_connection(("127.0.0.1", inst.http_port)),
                                        server_hostname="localhost") as s:
        s.sendall(f"PUT {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 71680\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


def test_event_routes_shapes_paging_and_errors(inst, api, users):
    alice, bob = tok(users, "alice"), tok(users, "bob")
    register(api, alice, SERIALS[0], name="Kitchen")
    dev = EventDevice(inst, SERIALS[0])
    try:
        base = int(time.time() * 1000)
        # Device timestamps out of arrival order: lists go newest device timestamp first.
        for n in range(25):
            dev.event("info" if n % 2 else "warning", message=f"m{n}", ts=base - (n * 7919) % 25 * 1000)
    finally:
        dev.close()
    seen, key, pages = [], None, 0
    while True:
        q = "/api/events?limit=10" + (f"&lastevalkey={key}" if key else "")
        page = get(api, alice, q)
        pages += 1
        seen += page["Items"]
        assert page["Count"] == len(page["Items"])
        key = page.get("LastEvaluatedKey")
        if not key:
            break
    assert pages == 3 and len(seen) == 25
    stamps = [e["timestamp"] for e in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert len({e["id"] for e in seen}) == 25
    one = seen[0]
    assert one["deviceName"] == "Kitchen" and one["deviceId"] == SERIALS[0]
    assert one["ack"] is False and one["suppress"] is False
    assert one["userId"] == uid(users, "alice") and "alertId" in one
    assert one["details"]["sensor"] == "temp"

    infos = get(api, alice, "/api/events?eventType=info&limit=100")
    assert len(infos["Items"]) == 12 and infos["eventType"] == "info"
    assert all(e["type"] == "info" for e in infos["Items"])
    by_device = get(api, alice, f"/api/devices/{SERIALS[0]}/events?limit=100&eventType=warning")
    assert len(by_device["Items"]) == 13 and "LastEvaluatedKey" not in by_device
    assert get(api, alice, f"/api/events?deviceId={SERIALS[1]}")["Items"] == []

    path = f"/api/devices/{SERIALS[0]}/events/{one['id']}"
    assert get(api, alice, path)["id"] == one["id"]
    admin = tok(users, "ev-admin")
    assert get(api, admin, path)["id"] == one["id"]

    # Status codes.
    assert error_name(api, "GET", f"/api/devices/{SERIALS[0]}/events/nope", token=alice,
                      expect=404) == "MissingEvent"
    assert error_name(api, "GET", path, token=bob, expect=403) == "DeviceAccessDenied"
    assert error_name(api, "GET", f"/api/devices/{SERIALS[0]}/events", token=bob,
                      expect=403) == "DeviceAccessDenied"
    assert error_name(api, "GET", "/api/devices/SN-NOPE/events", token=alice,
                      expect=404) == "MissingDevice"
    assert error_name(api, "GET", "/api/devices/SN-NOPE/events/x", token=alice,
                      expect=404) == "MissingDevice"
    for p in ("/api/events", "/api/alerts", "/api/alerts/count", path,
              f"/api/devices/{SERIALS[0]}/events"):
        assert error_name(api, "GET", p, expect=401) in ("Unauthorized", "InvalidToken")
    assert error_name(api, "PUT", path, {"ack": True}, expect=401) in ("Unauthorized",
                                                                          "InvalidToken")
    assert error_name(api, "POST", "/api/events/ack", {"all": True},
                      expect=401) in ("Unauthorized", "InvalidToken")
    assert error_name(api, "GET", "/api/events?limit=0", token=alice, expect=422) == "InvalidLimit"
    assert error_name(api, "GET", "/api/events?limit=101", token=alice,
                      expect=422) == "InvalidLimit"
    assert error_name(api, "GET", "/api/events?eventType=bogus", token=alice,
                      expect=422) == "InvalidQuery"
    assert error_name(api, "GET", "/api/events?lastevalkey=garbage", token=alice,
                      expect=400) == "InvalidCursor"
    assert error_name(api, "GET", "/api/alerts?lastevalkey=garbage", token=alice,
                      expect=400) == "InvalidCursor"
    # Bob sees none of alice's events in his own list.
    assert get(api, bob, "/api/events")["Items"] == []


def test_thirty_repeats_are_one_alert_with_thirty_occurrences(inst, api, users):
    carol = tok(users, "carol")
    settings(api, users, "carol", ["error", "warning"], True)
    register(api, carol, SERIALS[2], name="Attic")
    before = count(inst, "SELECT count(*) FROM notification_outbox WHERE user_id = ?",
                   uid(users, "carol"))
    dev = EventDevice(inst, SERIALS[2])
    try:
        for n in range(30):
            dev.event("error", "Temperature out of band", value=100 + n)
        dev.event("info", "Mode changed to HEAT")  # not in carol's alertLevel
    finally:
        dev.close()
    alerts = get(api, carol, "/api/alerts")
    assert len(alerts["Items"]) == 1, alerts
    a = alerts["Items"][0]
    assert a["occurrences"] == 30
    assert a["type"] == "error" and a["message"] == "Temperature out of band"
    assert a["deviceName"] == "Attic" and a["details"]["value"] == 129
    assert a["firstSeenAt"] <= a["lastSeenAt"]
    assert alert_count(api, carol) == 1
    # ?eventType= narrows the alerts (an info event is not in carol's alertLevel: no alert).
    only_errors = get(api, carol, "/api/alerts?eventType=error")
    assert [x["alertId"] for x in only_errors["Items"]] == [a["alertId"]]
    assert only_errors["eventType"] == "error"
    assert get(api, carol, "/api/alerts?eventType=warning")["Items"] == []
    assert get(api, carol, "/api/alerts?eventType=info")["Items"] == []
    status, _, body = api("GET", "/api/alerts?eventType=fatal", token=carol)
    assert status == 422 and body["error"] == "InvalidQuery", body
    # One outbox row per notifying occurrence (the notifications worker applies the per-window
    # limit); none for the info event.
    with db(inst) as conn:
        rows = conn.execute("SELECT kind, group_key, payload FROM notification_outbox "
                            "WHERE user_id = ? ORDER BY id", (uid(users, "carol"),)).fetchall()
    rows = rows[before:]
    assert len(rows) == 30
    assert {(k, g) for k, g, _ in rows} == {("alert", f"{SERIALS[2]}|error|Temperature out of band")}
    last = json.loads(rows[-1][2])
    assert last["occurrences"] == 30 and last["alertId"] == a["alertId"]
    assert last["eventId"] == a["id"] and last["deviceName"] == "Attic"
    assert last["value"] == 129 and last["eventType"] == "error"
    assert count(inst, "SELECT count(*) FROM events WHERE alert_id = ?", a["alertId"]) == 30

    # Reading an event does not suppress, and the seed's PUT with ack acknowledges the group.
    path = f"/api/devices/{SERIALS[2]}/events/{a['id']}"
    assert get(api, carol, path)["suppress"] is False
    status, _, body = api("PUT", path, {"id": a["id"], "ack": True}, token=carol)
    assert status == 200 and body["ack"] is True and body["suppress"] is False
    assert alert_count(api, carol) == 0
    assert count(inst, "SELECT count(*) FROM events WHERE alert_id = ? AND ack = 0",
                 a["alertId"]) == 0
    assert get(api, carol, f"/api/devices/{SERIALS[2]}/events/{a['firstEventId']}")["ack"] is True


def test_put_and_patch_change_only_the_keys_sent(inst, api, users):
    alice = tok(users, "alice")
    dev = EventDevice(inst, SERIALS[0])
    try:
        body, _ = dev.event("error", "Fan stalled")
    finally:
        dev.close()
    ev = next(e for e in get(api, alice, "/api/events?eventType=error&limit=100")["Items"]
              if e["messageId"] == body["messageId"])
    path = f"/api/devices/{SERIALS[0]}/events/{ev['id']}"
    status, _, out = api("PATCH", path, {"suppress": True}, token=alice)
    assert status == 200 and out["suppress"] is True and out["ack"] is False
    status, _, out = api("PUT", path, {"ack": True}, token=alice)
    assert status == 200 and out["ack"] is True and out["suppress"] is True  # not reset
    status, _, out = api("PATCH", path, {}, token=alice)
    assert status == 200 and out["ack"] is True and out["suppress"] is True
    status, _, out = api("PATCH", path, {"ack": False, "suppress": False}, token=alice)
    assert status == 200 and out["ack"] is False and out["suppress"] is False

    assert error_name(api, "PUT", path, {"ack": "yes"}, token=alice, expect=400) == "InvalidField"
    assert error_name(api, "PUT", path, {"suppressUntil": True}, token=alice,
                      expect=400) == "InvalidField"
    assert error_name(api, "PUT", path, b"{not json", token=alice,
                      headers={"Content-Type": "application/json"}, expect=400) in (
        "InvalidJson", "BadRequest")
    assert error_name(api, "PUT", path, b'{"ack":true}', token=alice,
                      headers={"Content-Type": "text/plain"}, expect=415) == "UnsupportedMediaType"
    assert error_name(api, "PUT", path, {"suppressUntil": "2001-01-01T00:00:00Z"}, token=alice,
                      expect=422) == "InvalidParameter"
    assert error_name(api, "PUT", path, {"suppressUntil": "next tuesday"}, token=alice,
                      expect=422) == "InvalidParameter"
    assert error_name(api, "PUT", path, {"suppress": False, "suppressUntil": 4102444800000},
                      token=alice, expect=422) == "InvalidParameter"
    assert error_name(api, "PUT", f"/api/devices/{SERIALS[0]}/events/nope", {"ack": True},
                      token=alice, expect=404) == "MissingEvent"
    assert error_name(api, "PATCH", path, {"ack": True}, token=tok(users, "bob"),
                      expect=403) == "DeviceAccessDenied"
    assert oversize_put(inst, path, alice) == (413, "PayloadTooLarge")


def test_suppress_until_then_lift(inst, api, users):
    bob = tok(users, "bob")
    settings(api, users, "bob", ["error", "warning"], True)
    register(api, bob, SERIALS[3], name="Shed")
    dev = EventDevice(inst, SERIALS[3])
    outbox = lambda: count(inst, "SELECT count(*) FROM notification_outbox WHERE user_id = ?",
                           uid(users, "bob"))
    try:
        dev.event("warning", "Filter dirty")
        assert alert_count(api, bob) == 1 and outbox() == 1
        ev = get(api, bob, "/api/alerts")["Items"][0]
        until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
        status, _, out = api("PATCH", f"/api/devices/{SERIALS[3]}/events/{ev['id']}",
                             {"suppressUntil": until.isoformat()}, token=bob)
        assert status == 200 and out["suppress"] is True and out["ack"] is False
        for _ in range(5):
            dev.event("warning", "Filter dirty")
        dev.event("warning", "Another warning")
        assert outbox() == 1  # no notification while suppressed
        alerts = get(api, bob, "/api/alerts")["Items"]
        assert len(alerts) == 1 and alerts[0]["occurrences"] == 1  # no alert, no occurrence
        suppressed = get(api, bob, f"/api/devices/{SERIALS[3]}/events?eventType=warning")["Items"]
        assert len(suppressed) == 7 and sum(e["suppress"] for e in suppressed) == 7
        dev.event("error", "Compressor fault")  # another type of the device still alerts
        assert alert_count(api, bob) == 2 and outbox() == 2

        status, _, out = api("PUT", f"/api/devices/{SERIALS[3]}/events/{ev['id']}",
                             {"suppress": False}, token=bob)
        assert status == 200 and out["suppress"] is False
        dev.event("warning", "Filter dirty")
        assert outbox() == 3
        alerts = get(api, bob, "/api/alerts")["Items"]
        assert [a["occurrences"] for a in alerts if a["message"] == "Filter dirty"] == [2]
    finally:
        dev.close()


def test_bulk_acknowledge(inst, api, users):
    alice, bob = tok(users, "alice"), tok(users, "bob")
    register(api, alice, SERIALS[1], name="Porch")
    dev = EventDevice(inst, SERIALS[1])
    try:
        dev.event("error", "E1")
        dev.event("warning", "W1")
        dev.event("warning", "W2")
    finally:
        dev.close()
    alerts = get(api, alice, "/api/alerts")["Items"]
    mine = {a["message"]: a for a in alerts if a["deviceId"] == SERIALS[1]}
    assert set(mine) == {"E1", "W1", "W2"}
    n = alert_count(api, alice)
    bobs = get(api, bob, "/api/alerts")["Items"]
    assert bobs, "bob has open alerts from the suppress test"
    # ids: only the caller's events count; another user's id is ignored.
    status, _, out = api("POST", "/api/events/ack", {"ids": [mine["E1"]["id"], bobs[0]["id"]]},
                         token=alice)
    assert status == 200 and out == {"acknowledged": 1, "alertsAcknowledged": 1}
    assert alert_count(api, alice) == n - 1
    assert len(get(api, bob, "/api/alerts")["Items"]) == len(bobs)
    status, _, out = api("POST", "/api/events/ack", {"all": True, "eventType": "warning"},
                         token=alice)
    assert status == 200 and out["alertsAcknowledged"] >= 2
    assert all(a["type"] != "warning" for a in get(api, alice, "/api/alerts")["Items"])
    status, _, out = api("POST", "/api/events/ack", {"all": True}, token=alice)
    assert status == 200
    assert alert_count(api, alice) == 0
    assert get(api, alice, "/api/events?limit=100")["Items"][0]["ack"] is True
    assert count(inst, "SELECT count(*) FROM events WHERE user_id = ? AND ack = 0",
                 uid(users, "alice")) == 0

    for body, want in (({}, "InvalidParameter"), ({"ids": ["a"], "all": True}, "InvalidParameter"),
                       ({"all": False}, "InvalidParameter"), ({"ids": []}, "InvalidParameter"),
                       ({"ids": ["x"] * 501}, "InvalidParameter"),
                       ({"all": True, "eventType": "bogus"}, "InvalidParameter")):
        assert error_name(api, "POST", "/api/events/ack", body, token=alice, expect=422) == want
    for body in ({"ids": "x"}, {"ids": [1]}, {"all": "yes"}, {"all": True, "eventType": 3}):
        assert error_name(api, "POST", "/api/events/ack", body, token=alice,
                          expect=400) == "InvalidField"
    assert error_name(api, "POST", "/api/events/ack", b"[]", token=alice,
                      headers={"Content-Type": "application/json"}, expect=400) in (
        "InvalidJson", "BadRequest")


def test_ownership_matrix_previous_owner_keeps_new_owner_starts_fresh(inst, api, users):
    alice, bob, admin = tok(users, "alice"), tok(users, "bob"), tok(users, "ev-admin")
    serial = SERIALS[4]
    register(api, alice, serial, name="Old-name")
    dev = EventDevice(inst, serial)
    try:
        dev.event("error", "alice's")
    finally:
        dev.close()
    status, _, body = api("DELETE", f"/api/devices/{serial}", token=alice)
    assert status == 200, body
    register(api, bob, serial, name="New-name")
    dev = EventDevice(inst, serial)
    try:
        dev.event("error", "bob's")
    finally:
        dev.close()
    a = get(api, alice, f"/api/devices/{serial}/events")["Items"]
    b = get(api, bob, f"/api/devices/{serial}/events")["Items"]
    everyone = get(api, admin, f"/api/devices/{serial}/events")["Items"]
    assert [e["message"] for e in a] == ["alice's"] and a[0]["deviceName"] == "Old-name"
    assert [e["message"] for e in b] == ["bob's"] and b[0]["deviceName"] == "New-name"
    assert sorted(e["message"] for e in everyone) == ["alice's", "bob's"]
    # Each one's event is unknown to the other; the admin reads both.
    assert error_name(api, "GET", f"/api/devices/{serial}/events/{b[0]['id']}", token=alice,
                      expect=404) == "MissingEvent"
    assert error_name(api, "GET", f"/api/devices/{serial}/events/{a[0]['id']}", token=bob,
                      expect=404) == "MissingEvent"
    get(api, admin, f"/api/devices/{serial}/events/{a[0]['id']}")
    # A user with no registration of the device at all.
    assert error_name(api, "GET", f"/api/devices/{serial}/events", token=tok(users, "carol"),
                      expect=403) == "DeviceAccessDenied"
    # The alert went to the owner at arrival.
    assert any(x["message"] == "bob's" for x in get(api, bob, "/api/alerts")["Items"])
    assert not any(x["message"] == "bob's" for x in get(api, alice, "/api/alerts")["Items"])


def test_kill_9_keeps_events_and_alert_groups_consistent(inst, api, users):
    carol = tok(users, "carol")
    settings(api, users, "carol", ["error"], True)
    serial = SERIALS[5]
    register(api, carol, serial, name="Basement")
    dev = EventDevice(inst, serial)
    sent = []
    try:
        infos = [dev.event("error", "Water detected", value=n, wait=False) for n in range(200)]
        # Kill while acknowledgements are still arriving.
        wait_for(lambda: sum(i.is_published() for _, i in infos) >= 20, 30, "first PUBACKs")
        inst.stop(sig=signal.SIGKILL)
        time.sleep(0.5)
        sent = [b for b, i in infos if i.is_published()]
    finally:
        dev.close()
    inst.start()
    # What the broker acknowledged to the device reaches the daemon (again) from its persistent
    # session after the restart.
    wanted = {b["messageId"] for b in sent}
    message_ids = lambda: {r[0] for r in db(inst).execute(
        "SELECT message_id FROM events WHERE device_id = ?", (serial,))}
    wait_for(lambda: wanted <= message_ids(), 60, "every acknowledged event stored")
    with db(inst) as conn:
        stored = {r[0] for r in conn.execute(
            "SELECT message_id FROM events WHERE device_id = ?", (serial,))}
        groups = conn.execute(
            "SELECT a.id, a.occurrences, (SELECT count(*) FROM events e WHERE e.alert_id = a.id) "
            "FROM alerts a WHERE a.device_id = ?", (serial,)).fetchall()
        outbox = conn.execute("SELECT count(*) FROM notification_outbox WHERE device_id = ?",
                              (serial,)).fetchone()[0]
        linked = conn.execute("SELECT count(*) FROM events WHERE device_id = ? AND alert_id IS NULL",
                              (serial,)).fetchone()[0]
    # Every acknowledged event survived, and each group counts exactly the events linked to it.
    assert {b["messageId"] for b in sent} <= stored
    assert groups and all(occ == n for _, occ, n in groups), groups
    assert sum(occ for _, occ, _ in groups) == len(stored)
    assert linked == 0
    assert outbox == len(stored)  # one notification row per occurrence, committed with it
    assert alert_count(api, carol) >= 1
