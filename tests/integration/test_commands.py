"""The commands module end to end: real devices (paho, MQTT v5 over mutual TLS) subscribed to their
command topic and shadow delta, owners sending commands over HTTPS, replies on /response and on the
seed's shared topic, timeouts, supersession, offline delivery on reconnect and restart persistence."""

from __future__ import annotations

import json
import queue
import time

import paho.mqtt.client as paho
import pytest

from devices import count, issue_cert, metric
from harness import running_instance, wait_for
from test_accounts import Api
from test_jitr import Users, add_to_catalog, register

TIMEOUT_S = 4  # [commands] timeout_s of this instance: small, so the timeout test is quick
SERIALS = [f"SN-C{n:03d}" for n in range(12)]
GENERIC = "SN-G000"  # a model that declares its own commands in the catalog


class CommandDevice:
    """A device subscribed (again on every connect) to its command topic and its shadow delta."""

    def __init__(self, inst, serial: str, cert=None, connect: bool = True):
        self.inst = inst
        self.serial = serial
        self.topic = f"smartproduct/commands/{serial}"
        self.delta_topic = f"$aws/things/{serial}/shadow/update/delta"
        self.cert = cert or issue_cert(inst, serial)
        self.commands: queue.Queue = queue.Queue()
        self.deltas: queue.Queue = queue.Queue()
        self.subscribed = queue.Queue()
        self.client = paho.Client(client_id=serial, protocol=paho.MQTTv5)
        self.client.tls_set(ca_certs=str(inst.ca), certfile=str(self.cert[0]),
                            keyfile=str(self.cert[1]))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a, **k: self.subscribed.put(True)
        if connect:
            self.connect()

    def connect(self):
        self.client.connect("127.0.0.1", self.inst.mqtt_port, keepalive=30)
        self.client.loop_start()
        assert self.subscribed.get(timeout=15), "SUBACK"

    def _on_connect(self, client, *_):
        client.subscribe([(self.topic, 1), (self.delta_topic, 1)])

    def _on_message(self, _c, _u, msg):
        body = json.loads(msg.payload)
        if msg.topic == self.delta_topic:
            self.deltas.put(body)
        elif body.get("status") == "pending":  # not our own legacy replies coming back
            self.commands.put(body)

    def reply(self, command_id: str, status="success", reason="applied", legacy=False,
              **extra) -> None:
        topic = self.topic if legacy else self.topic + "/response"
        body = {"commandId": command_id, "deviceId": self.serial, "status": status,
                "reason": reason, **extra}
        self.client.publish(topic, json.dumps(body), qos=1).wait_for_publish(10)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def set_temp(target, value=None, power="HEAT", **extra):
    body = {"deviceId": "ignored",
            "commandDetails": {"command": "set-temp", "value": target if value is None else value},
            "shadowDetails": {"powerStatus": power, "actualTemperature": 68.2,
                              "targetTemperature": target}}
    body.update(extra)
    return body


def set_mode(mode, target=72, **extra):
    body = {"commandDetails": {"command": "set-mode", "value": mode},
            "shadowDetails": {"powerStatus": mode, "actualTemperature": 70,
                              "targetTemperature": target}}
    body.update(extra)
    return body


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(settings={"commands": {"timeout_s": TIMEOUT_S}})


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    admin = u.add("cmd-admin@example.com", admin=True)
    u.add("alice@example.com")
    u.add("bob@example.com")
    add_to_catalog(api, admin, SERIALS)
    status, _, body = api("POST", "/api/admin/catalog", {
        "deviceId": GENERIC, "modelNumber": "25HNB9", "details": {"commands": {
            "set-brightness": {"type": "number", "field": "brightness", "min": 0, "max": 100},
            "set-color": {"type": "enum", "field": "color", "values": ["red", "green"]}}}},
        token=admin)
    assert status == 201, body
    alice = u.tokens["alice@example.com"]
    for serial in SERIALS + [GENERIC]:
        register(api, alice, serial)
    return u


@pytest.fixture
def alice(users):
    return users.tokens["alice@example.com"]


def send(api, token, serial, body, expect=201):
    status, _, out = api("POST", f"/api/devices/{serial}/commands", body, token=token)
    assert status == expect, out
    return out


def command(api, token, serial, command_id):
    status, _, body = api("GET", f"/api/devices/{serial}/commands/{command_id}", token=token)
    assert status == 200, body
    return body


def wait_command(api, token, serial, command_id, status, timeout=15):
    wait_for(lambda: command(api, token, serial, command_id)["status"] == status, timeout,
             f"command {command_id} {status}")
    return command(api, token, serial, command_id)


def replies(inst, result) -> float:
    return metric(inst, "smartproduct_command_replies_total", result=result)


def wait_counted(inst, result, before: float) -> None:
    """Waits until the daemon has counted one more reply with `result` than `before`."""
    wait_for(lambda: replies(inst, result) == before + 1, 10, f"reply counted as {result}")


def shadow(api, token, serial):
    status, _, body = api("GET", f"/api/devices/{serial}/shadow", token=token)
    assert status == 200, body
    return body


def test_success_delta_then_command_then_reply_on_response(inst, api, alice):
    d = CommandDevice(inst, SERIALS[0])
    try:
        row = send(api, alice, d.serial, set_temp(72.499))
        assert row["status"] == "pending" and row["deviceId"] == d.serial
        assert row["details"] == {"command": "set-temp", "value": 72.5}  # rounded, a number
        assert row["field"] == "targetTemperature"
        # Only the changed field goes into desired (upstream #7): never actualTemperature.
        delta = d.deltas.get(timeout=10)
        assert delta["state"] == {"targetTemperature": 72.5}
        msg = d.commands.get(timeout=10)
        assert msg == {"commandId": row["commandId"], "deviceId": d.serial, "status": "pending",
                       "details": {"powerStatus": "HEAT", "targetTemperature": 72.5,
                                   "actualTemperature": 68.2}}
        assert shadow(api, alice, d.serial)["state"]["desired"] == {"targetTemperature": 72.5}
        d.reply(row["commandId"], reason="set to 72.5")
        done = wait_command(api, alice, d.serial, row["commandId"], "success")
        assert done["reason"] == "set to 72.5"
        # A second reply cannot move it again.
        before = replies(inst, "not_pending")
        d.reply(row["commandId"], status="failed", reason="late")
        wait_counted(inst, "not_pending", before)
        assert command(api, alice, d.serial, row["commandId"])["status"] == "success"
    finally:
        d.close()


def test_legacy_reply_on_the_command_topic(inst, api, alice):
    d = CommandDevice(inst, SERIALS[1])
    try:
        row = send(api, alice, d.serial, set_mode("AC"))
        assert row["details"] == {"command": "set-mode", "value": "AC"}
        assert d.deltas.get(timeout=10)["state"] == {"powerStatus": "AC"}
        assert d.commands.get(timeout=10)["commandId"] == row["commandId"]
        d.reply(row["commandId"], legacy=True, reason="success")
        assert wait_command(api, alice, d.serial, row["commandId"], "success")["reason"] == "success"
    finally:
        d.close()


def test_timeout_marks_failed(inst, api, alice):
    d = CommandDevice(inst, SERIALS[2])
    try:
        started = time.monotonic()
        row = send(api, alice, d.serial, set_mode("OFF"))  # [commands] timeout_s = 4
        quick = send(api, alice, d.serial, set_temp(70, ttlSeconds=1))  # its own ttl
        assert d.commands.get(timeout=10)["commandId"] == row["commandId"]
        failed = wait_command(api, alice, d.serial, quick["commandId"], "failed", timeout=10)
        assert failed["reason"] == "timeout"
        assert command(api, alice, d.serial, row["commandId"])["status"] == "pending"
        failed = wait_command(api, alice, d.serial, row["commandId"], "failed", timeout=15)
        assert failed["reason"] == "timeout"
        assert time.monotonic() - started >= TIMEOUT_S - 0.5
        # A reply after the timeout changes nothing.
        before = replies(inst, "not_pending")
        d.reply(row["commandId"])
        wait_counted(inst, "not_pending", before)
        assert command(api, alice, d.serial, row["commandId"])["status"] == "failed"
    finally:
        d.close()


def test_newer_command_for_the_same_field_supersedes(inst, api, alice):
    d = CommandDevice(inst, SERIALS[3])
    try:
        first = send(api, alice, d.serial, set_temp(71))
        mode = send(api, alice, d.serial, set_mode("AC"))  # another field: stays pending
        second = send(api, alice, d.serial, set_temp(75))
        old = command(api, alice, d.serial, first["commandId"])
        assert old["status"] == "superseded"
        assert second["commandId"] in old["reason"]
        assert command(api, alice, d.serial, mode["commandId"])["status"] == "pending"
        assert count(inst, "SELECT count(*) FROM commands WHERE device_id = ? AND "
                           "status = 'pending'", d.serial) == 2
        d.reply(first["commandId"])  # too late for the superseded one
        d.reply(second["commandId"])
        wait_command(api, alice, d.serial, second["commandId"], "success")
        assert command(api, alice, d.serial, first["commandId"])["status"] == "superseded"
        assert shadow(api, alice, d.serial)["state"]["desired"] == {"targetTemperature": 75,
                                                                    "powerStatus": "AC"}
    finally:
        d.close()


def test_foreign_and_unknown_replies_are_refused(inst, api, alice):
    a = CommandDevice(inst, SERIALS[4])
    b = CommandDevice(inst, SERIALS[5])
    try:
        row = send(api, alice, a.serial, set_mode("HEAT"))
        a.commands.get(timeout=10)
        foreign, unknown = replies(inst, "foreign"), replies(inst, "unknown")
        b.reply(row["commandId"])  # B answers A's command
        b.reply("00000000-0000-4000-8000-000000000000")
        wait_counted(inst, "foreign", foreign)
        wait_counted(inst, "unknown", unknown)
        assert command(api, alice, a.serial, row["commandId"])["status"] == "pending"
        # No upsert: the unknown id did not create a row.
        assert count(inst, "SELECT count(*) FROM commands WHERE id = ?",
                     "00000000-0000-4000-8000-000000000000") == 0
        # A payload naming another device is refused as well, even with the right command id.
        invalid = replies(inst, "invalid")
        a.reply(row["commandId"], deviceId=b.serial)
        wait_counted(inst, "invalid", invalid)
        assert command(api, alice, a.serial, row["commandId"])["status"] == "pending"
        a.reply(row["commandId"], reason="ok")
        assert wait_command(api, alice, a.serial, row["commandId"], "success")["reason"] == "ok"
    finally:
        a.close()
        b.close()


def test_offline_device_gets_its_command_on_reconnect(inst, api, alice):
    d = CommandDevice(inst, SERIALS[6], connect=False)
    try:
        row = send(api, alice, d.serial, set_temp(66))
        assert row["status"] == "pending"
        d.connect()
        msg = d.commands.get(timeout=15)
        assert msg["commandId"] == row["commandId"]
        d.reply(row["commandId"])
        wait_command(api, alice, d.serial, row["commandId"], "success")
    finally:
        d.close()


def test_access_and_validation_errors(inst, api, users, alice):
    bob = users.tokens["bob@example.com"]
    admin = users.tokens["cmd-admin@example.com"]
    serial = SERIALS[7]
    assert api("POST", f"/api/devices/{serial}/commands", set_mode("AC"), token=bob)[0] == 403
    assert api("GET", f"/api/devices/{serial}/commands", token=bob)[0] == 403
    assert api("POST", "/api/devices/NOPE-1/commands", set_mode("AC"), token=alice)[0] == 404
    assert api("POST", f"/api/devices/{serial}/commands", set_mode("AC"))[0] == 401
    # Ownership is checked before the body: bob gets 403 even for an invalid body.
    assert api("POST", f"/api/devices/{serial}/commands", {"x": 1}, token=bob)[0] == 403
    bad = [
        {},
        {"commandDetails": {"command": "set-temp", "value": 72}},  # no shadowDetails
        set_temp(72) | {"commandDetails": {"command": "reboot", "value": 1}},
        set_temp(49.99), set_temp(110.01), set_temp("warm"),
        set_temp(72, value=73),  # value must equal the target
        set_temp(72, value="abc"),
        set_temp(72, power="COOL"),
        set_mode("AC") | {"commandDetails": {"command": "set-mode", "value": "HEAT"}},
        set_mode("AC", ttlSeconds=0), set_mode("AC", ttlSeconds="5"),
        set_mode("AC", ttlSeconds=10 ** 9),
    ]
    for body in bad:
        status, _, out = api("POST", f"/api/devices/{serial}/commands", body, token=alice)
        assert (status, out["error"]) == (422, "InvalidParameter"), (body, out)
    status, _, out = api("POST", f"/api/devices/{serial}/commands", b"{nope", token=alice,
                         headers={"Content-Type": "application/json"})
    assert status == 400, out
    # Nothing of the refused requests was written.
    assert count(inst, "SELECT count(*) FROM commands WHERE device_id = ?", serial) == 0
    assert api("GET", f"/api/devices/{serial}/shadow", token=alice)[0] == 404
    # A numeric string target is accepted and stored as a number; an admin may send too.
    row = send(api, admin, serial, set_temp("72.25"))
    assert row["details"]["value"] == 72.25 and row["userId"] == users.ids["alice@example.com"]
    # A deleted device is read-only history: 409, its commands stay readable, and its pending
    # ones fail (they must not reach the device under a later owner).
    assert api("DELETE", f"/api/devices/{serial}", token=alice)[0] in (200, 204)
    status, _, out = api("POST", f"/api/devices/{serial}/commands", set_mode("AC"), token=alice)
    assert status == 409, out
    failed = wait_command(api, alice, serial, row["commandId"], "failed")
    assert failed["reason"] == "device deleted"


def test_list_pages_newest_first_with_filter_and_get_one(inst, api, alice):
    serial = SERIALS[8]
    ids = [send(api, alice, serial, set_temp(60 + n))["commandId"] for n in range(5)]
    status, _, page = api("GET", f"/api/devices/{serial}/commands?limit=2", token=alice)
    assert status == 200, page
    assert [c["commandId"] for c in page["Items"]] == ids[::-1][:2]
    assert page["Count"] == 2 and "LastEvaluatedKey" in page
    seen = [c["commandId"] for c in page["Items"]]
    while "LastEvaluatedKey" in page:
        status, _, page = api("GET", f"/api/devices/{serial}/commands?limit=2&lastevalkey="
                              + page["LastEvaluatedKey"], token=alice)
        assert status == 200, page
        seen += [c["commandId"] for c in page["Items"]]
    assert seen == ids[::-1]
    status, _, page = api("GET", f"/api/devices/{serial}/commands?commandStatus=superseded",
                          token=alice)
    assert status == 200 and page["commandStatus"] == "superseded"
    assert sorted(c["commandId"] for c in page["Items"]) == sorted(ids[:4])
    status, _, page = api("GET", f"/api/devices/{serial}/commands?commandStatus=pending",
                          token=alice)
    assert [c["commandId"] for c in page["Items"]] == [ids[4]]
    assert api("GET", f"/api/devices/{serial}/commands?commandStatus=done", token=alice)[0] == 422
    assert api("GET", f"/api/devices/{serial}/commands?lastevalkey=xyz", token=alice)[0] == 400
    assert api("GET", f"/api/devices/{serial}/commands?limit=0", token=alice)[0] == 422
    status, _, out = api("GET", f"/api/devices/{serial}/commands/nope", token=alice)
    assert (status, out["error"]) == (404, "MissingCommand")
    # Another device's command is not found under this device.
    other = send(api, alice, SERIALS[9], set_mode("OFF"))["commandId"]
    assert api("GET", f"/api/devices/{serial}/commands/{other}", token=alice)[0] == 404
    assert command(api, alice, serial, ids[0])["status"] == "superseded"


def test_generic_commands_declared_in_the_catalog(inst, api, alice):
    row = send(api, alice, GENERIC, {"commandDetails": {"command": "set-brightness", "value": 40}})
    assert row["field"] == "brightness" and row["details"]["value"] == 40
    row = send(api, alice, GENERIC, {"commandDetails": {"command": "set-color", "value": "red"}})
    assert shadow(api, alice, GENERIC)["state"]["desired"] == {"brightness": 40, "color": "red"}
    for body in ({"commandDetails": {"command": "set-brightness", "value": 101}},
                 {"commandDetails": {"command": "set-color", "value": "blue"}},
                 {"commandDetails": {"command": "set-temp", "value": 72}}):
        status, _, out = api("POST", f"/api/devices/{GENERIC}/commands", body, token=alice)
        assert (status, out["error"]) == (422, "InvalidParameter"), (body, out)


def test_pending_commands_survive_a_restart_and_are_resent(inst, api, alice):
    d = CommandDevice(inst, SERIALS[10], connect=False)
    row = send(api, alice, d.serial, set_temp(80, ttlSeconds=120))
    inst.stop()  # the managed broker stops with the daemon
    inst.start()
    assert command(api, alice, d.serial, row["commandId"])["status"] == "pending"
    d.connect()
    try:
        assert d.commands.get(timeout=20)["commandId"] == row["commandId"]
        d.reply(row["commandId"])
        wait_command(api, alice, d.serial, row["commandId"], "success")
    finally:
        d.close()
