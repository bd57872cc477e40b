"""GET /api/ws end to end: a real WebSocket client over TLS, real devices over mutual TLS (paho,
MQTT v5), the daemon's own broker. Pushes arrive within a second of the MQTT event and only to the
device's owner and admins; tokens are checked at connect and at expiry; a client that stops
reading is dropped while a device keeps ingesting and every acknowledged message is stored."""

from __future__ import annotations

import json
import os
import time

import paho.mqtt.client as paho
import pytest

from devices import count, issue_cert, metric
from harness import running_instance, wait_for
from live_client import LiveClient
from test_accounts import Api, login
from test_jitr import PASSWORD as JITR_PASSWORD
from test_jitr import Users, add_to_catalog, register

# The issue asks for a push within a second of the MQTT event; a loaded CI machine may set more.
DEADLINE_S = float(os.environ.get("SP_LIVE_PUSH_DEADLINE_S", "1.0"))
AUTH_TIMEOUT_S = 2
QUEUE = 256
ALICE_DEVICES = ["SN-L000", "SN-L001", "SN-L002"]
BOB_DEVICE = "SN-L100"


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(settings={
        "live": {"auth_timeout_s": AUTH_TIMEOUT_S, "queue_messages": QUEUE,
                 "socket_send_buffer": 32768, "close_grace_ms": 15000,
                 "max_connections_per_user": 6},
        "commands": {"timeout_s": 30}})


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    admin = u.add("live-admin@example.com", admin=True)
    u.add("alice@example.com")
    u.add("bob@example.com")
    add_to_catalog(api, admin, ALICE_DEVICES + [BOB_DEVICE])
    for serial in ALICE_DEVICES:
        register(api, u.tokens["alice@example.com"], serial)
    register(api, u.tokens["bob@example.com"], BOB_DEVICE)
    return u


def tok(users, who):
    return users.tokens[{"alice": "alice@example.com", "bob": "bob@example.com",
                         "admin": "live-admin@example.com"}[who]]


class Device:
    def __init__(self, inst, serial):
        self.serial = serial
        cert = issue_cert(inst, serial)
        self.client = paho.Client(client_id=serial, protocol=paho.MQTTv5)
        self.client.tls_set(ca_certs=str(inst.ca), certfile=str(cert[0]), keyfile=str(cert[1]))
        self.inst = inst
        self.commands = []
        self.client.on_message = lambda _c, _u, msg: self.commands.append(json.loads(msg.payload))

    def connect(self):
        self.client.connect("127.0.0.1", self.inst.mqtt_port, keepalive=30)
        self.client.loop_start()
        sub = self.client.subscribe(f"smartproduct/commands/{self.serial}", qos=1)
        assert sub[0] == 0

    def disconnect(self):
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, kind: str, body: dict) -> None:
        info = self.client.publish(f"smartproduct/{kind}/{self.serial}", json.dumps(body), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()

    def shadow_report(self, reported: dict) -> None:
        info = self.client.publish(f"$aws/things/{self.serial}/shadow/update",
                                   json.dumps({"state": {"reported": reported}}), qos=1)
        info.wait_for_publish(10)


def event_body(n: int, kind="warning"):
    now = int(time.time() * 1000)
    return {"messageId": f"m-{n}-{now}", "type": kind, "message": f"test event {n}",
            "details": {"n": n}, "timestamp": now}


def within_deadline(client: LiveClient, predicate, since: float) -> dict:
    m = client.expect(predicate, DEADLINE_S + 5)
    arrived = client.arrivals[client.received.index(m)]
    assert arrived - since <= DEADLINE_S, f"pushed {arrived - since:.3f}s after the MQTT event"
    return m


def test_plain_get_is_refused_with_json(api):
    status, _, body = api("GET", "/api/ws")
    assert status == 400 and body["error"] == "WebSocketUpgradeRequired"


def test_no_auth_message_closes_with_4001(inst):
    c = LiveClient(inst)
    try:
        assert c.wait_closed(AUTH_TIMEOUT_S + 5) == 4001
    finally:
        c.close()


def test_bad_and_missing_tokens_close_with_4001(inst, users):
    for first in ({"type": "auth", "token": "not.a.jwt"},
                  {"type": "auth"},
                  {"type": "subscribe", "deviceId": ALICE_DEVICES[0]},
                  {"type": "auth", "token": tok(users, "alice")[:-4] + "AAAA"}):
        c = LiveClient(inst)
        try:
            c.send(first)
            err = c.expect(lambda m: m["type"] == "error", 5)
            assert err["code"] == 401, err
            assert c.wait_closed(5) == 4001
        finally:
            c.close()


def test_pushes_reach_the_owner_within_a_second_and_nobody_else(inst, users, api):
    alice = LiveClient(inst)
    bob = LiveClient(inst)
    admin = LiveClient(inst)
    dev = Device(inst, ALICE_DEVICES[0])
    sentinel = Device(inst, BOB_DEVICE)
    try:
        assert alice.auth(tok(users, "alice"))["type"] == "authenticated"
        assert bob.auth(tok(users, "bob"))["type"] == "authenticated"
        ok = admin.auth(tok(users, "admin"))
        assert ok["type"] == "authenticated" and ok["admin"] is True
        serial = dev.serial

        # Connectivity.
        t0 = time.monotonic()
        dev.connect()
        m = within_deadline(alice, lambda m: m["type"] == "connectivity"
                            and m["deviceId"] == serial and m["connected"], t0)
        assert isinstance(m["timestamp"], int)
        admin.expect(lambda m: m["type"] == "connectivity" and m["deviceId"] == serial, 5)

        # A new event.
        t0 = time.monotonic()
        dev.publish("event", event_body(1))
        m = within_deadline(alice, lambda m: m["type"] == "event", t0)
        assert m["deviceId"] == serial
        assert m["event"]["message"] == "test event 1" and m["event"]["type"] == "warning"
        assert m["event"]["deviceId"] == serial and m["event"]["id"]

        # A shadow update from the device.
        t0 = time.monotonic()
        dev.shadow_report({"actualTemperature": 70.5, "powerStatus": "HEAT"})
        m = within_deadline(alice, lambda m: m["type"] == "shadow", t0)
        assert m["shadow"]["state"]["reported"]["actualTemperature"] == 70.5

        # A command: created (pending), then the device's reply.
        t0 = time.monotonic()
        status, _, cmd = api("POST", f"/api/devices/{serial}/commands", {
            "deviceId": serial, "commandDetails": {"command": "set-temp", "value": 71},
            "shadowDetails": {"powerStatus": "HEAT", "targetTemperature": 71}},
            token=tok(users, "alice"))
        assert status == 201, cmd
        within_deadline(alice, lambda m: m["type"] == "command"
                        and m["command"]["status"] == "pending", t0)
        wait_for(lambda: dev.commands, 10, "the command on the device")
        t0 = time.monotonic()
        info = dev.client.publish(f"smartproduct/commands/{serial}/response", json.dumps(
            {"commandId": cmd["commandId"], "deviceId": serial, "status": "success",
             "reason": "applied"}), qos=1)
        info.wait_for_publish(10)
        m = within_deadline(alice, lambda m: m["type"] == "command"
                            and m["command"]["status"] == "success", t0)
        assert m["command"]["commandId"] == cmd["commandId"]

        # Telemetry only once subscribed. The broker acknowledges once its ingest tap has the
        # message; the daemon stores it a little later: wait for the row before subscribing.
        rows = count(inst, "SELECT COUNT(*) FROM telemetry WHERE device_id = ?", serial,
                     name="telemetry.db")
        dev.publish("telemetry", {"actualTemperature": 1.0, "timestamp": int(time.time() * 1000)})
        wait_for(lambda: count(inst, "SELECT COUNT(*) FROM telemetry WHERE device_id = ?", serial,
                               name="telemetry.db") == rows + 1, 10, "the telemetry row")
        alice.send({"type": "subscribe", "deviceId": serial})
        alice.expect(lambda m: m["type"] == "subscribed" and m["deviceId"] == serial, 5)
        assert not [m for m in alice.received if m["type"] == "telemetry"]
        t0 = time.monotonic()
        dev.publish("telemetry", {"actualTemperature": 2.0, "timestamp": int(time.time() * 1000)})
        m = within_deadline(alice, lambda m: m["type"] == "telemetry", t0)
        assert m["deviceId"] == serial and m["data"]["actualTemperature"] == 2.0
        assert not [m for m in admin.received if m["type"] == "telemetry"], "admin did not subscribe"

        # Another user's device cannot be subscribed.
        bob.send({"type": "subscribe", "deviceId": serial})
        err = bob.expect(lambda m: m["type"] == "error", 5)
        assert err["code"] == 403 and err["error"] == "DeviceAccessDenied"
        bob.send({"type": "subscribe", "deviceId": "SN-NOBODY"})
        assert bob.expect(lambda m: m["type"] == "error", 5)["code"] == 404

        # Disconnect.
        t0 = time.monotonic()
        dev.disconnect()
        within_deadline(alice, lambda m: m["type"] == "connectivity" and not m["connected"], t0)

        # Bob's own device is the sentinel: pushes leave the bus in order, so once bob has the
        # sentinel's event, anything of alice's meant for bob would have arrived before it.
        sentinel.connect()
        sentinel.publish("event", event_body(99))
        bob.expect(lambda m: m["type"] == "event" and m["deviceId"] == BOB_DEVICE, 5)
        alice_devices = set(ALICE_DEVICES)
        leaked = [m for m in bob.received if m.get("deviceId") in alice_devices
                  and m["type"] != "error"]
        assert not leaked, leaked
        assert not [m for m in alice.received if m.get("deviceId") == BOB_DEVICE]
        # The admin saw both.
        admin.expect(lambda m: m["type"] == "event" and m["deviceId"] == BOB_DEVICE, 5)
        assert [m for m in admin.received if m["type"] == "event" and m["deviceId"] == serial]
    finally:
        sentinel.disconnect()
        for c in (alice, bob, admin):
            c.close()


def test_a_slow_client_is_dropped_and_ingest_goes_on(inst, users):
    serial = ALICE_DEVICES[1]
    dev = Device(inst, serial)
    slow = LiveClient(inst, rcvbuf=4096)
    fast = LiveClient(inst)
    try:
        for c in (slow, fast):
            assert c.auth(tok(users, "alice"))["type"] == "authenticated"
            c.send({"type": "subscribe", "deviceId": serial})
            c.expect(lambda m: m["type"] == "subscribed", 5)
        slow.reading.clear()  # stops reading: its socket buffers fill, then its queue
        dev.connect()
        refused_before = metric(inst, "smartproduct_live_refused_total")
        padding = "x" * 2000
        acked = 0
        start = int(time.time() * 1000)
        deadline = time.monotonic() + 60
        # Publish until the server gave up on the slow client, then as many again.
        while metric(inst, "smartproduct_live_refused_total") == refused_before:
            assert time.monotonic() < deadline, "the slow client was never dropped"
            for _ in range(50):
                dev.publish("telemetry", {"n": acked, "timestamp": start + acked, "pad": padding})
                acked += 1
        dropped_at = acked
        for _ in range(dropped_at):
            dev.publish("telemetry", {"n": acked, "timestamp": start + acked, "pad": padding})
            acked += 1
        # Every acknowledged message is stored.
        wait_for(lambda: count(inst, "SELECT COUNT(*) FROM telemetry WHERE device_id = ?", serial,
                               name="telemetry.db") == acked, 15, "every acked message stored")
        # The reading client got every message, in order, and was never dropped.
        assert not fast.closed.is_set(), f"the reading client was closed ({fast.close_code})"
        fast.expect(lambda m: m["type"] == "telemetry" and m["data"]["n"] == acked - 1, 15)
        ns = [m["data"]["n"] for m in fast.received if m["type"] == "telemetry"]
        assert ns == list(range(acked)), "the fast client missed or reordered messages"
        # The slow one, reading again, gets what was in flight and then the close code.
        slow.reading.set()
        assert slow.wait_closed(20) == 4008, slow.close_code
        got = [m for m in slow.received if m["type"] == "telemetry"]
        assert len(got) < acked
    finally:
        dev.disconnect()
        slow.close()
        fast.close()


def test_per_user_connection_limit(inst, users):
    # Connections of the earlier tests end asynchronously; start from none.
    wait_for(lambda: metric(inst, "smartproduct_live_connections") == 0, 20, "no live connections")
    clients = []
    try:
        for _ in range(6):
            c = LiveClient(inst)
            clients.append(c)
            assert c.auth(tok(users, "bob"))["type"] == "authenticated"
        extra = LiveClient(inst)
        clients.append(extra)
        err = extra.auth(tok(users, "bob"))
        assert err["type"] == "error" and err["code"] == 429
        assert extra.wait_closed(5) == 4029
    finally:
        for c in clients:
            c.close()


# Token expiry needs its own instance: the shortest access token lifetime is 60 s.
@pytest.fixture(scope="module")
def short_lived():
    yield from running_instance(settings={"identity": {"access_token_ttl_s": 60}})


def test_token_expiry_closes_unless_renewed(short_lived):
    inst = short_lived
    api = Api(inst)
    u = Users(api)
    token = u.add("expiring@example.com")
    first = LiveClient(inst)
    renewed = LiveClient(inst)
    try:
        ok = first.auth(token)
        assert ok["type"] == "authenticated"
        expires_at = ok["expiresAt"] / 1000
        assert renewed.auth(token)["type"] == "authenticated"
        time.sleep(1.1)  # a new token has a later exp (seconds)
        fresh = login(api, "expiring@example.com", JITR_PASSWORD)[0]["accessToken"]
        again = renewed.auth(fresh)
        assert again["type"] == "authenticated" and again["expiresAt"] > ok["expiresAt"]
        assert first.wait_closed(max(0, expires_at - time.time()) + 5) == 4002
        assert time.time() >= expires_at - 0.5
        assert not renewed.closed.is_set(), "the renewed connection was closed too"
        renewed.send({"type": "ping"})
        renewed.expect(lambda m: m["type"] == "pong", 5)
        # The expired token no longer opens a connection.
        late = LiveClient(inst)
        try:
            err = late.auth(token)
            assert err["type"] == "error" and err["code"] == 401
            assert late.wait_closed(5) == 4001
        finally:
            late.close()
    finally:
        first.close()
        renewed.close()
