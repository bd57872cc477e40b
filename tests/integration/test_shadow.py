"""The shadow module end to end: a real device (paho, MQTT v5 over mutual TLS with a certificate of a
managed CA, activated by JITR) talks AWS classic-shadow topics to the daemon through mosquitto, and
its owner reads and edits the document over HTTPS."""

from __future__ import annotations

import json
import queue
import threading

import paho.mqtt.client as paho
import pytest

from devices import issue_cert
from harness import running_instance, wait_for  # noqa: F401
from test_accounts import Api
from test_jitr import Users, add_to_catalog, register, wait_status

SERIAL = "SN-S000"


class ShadowDevice:
    """A device subscribed to its own shadow topics; replies are queued by topic suffix."""

    def __init__(self, inst, serial: str, cert=None):
        self.serial = serial
        self.base = f"$aws/things/{serial}/shadow"
        self.cert = cert or issue_cert(inst, serial)
        crt, key = self.cert
        self.replies: dict[str, queue.Queue] = {}
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(client_id=serial, protocol=paho.MQTTv5)
        self.client.tls_set(ca_certs=str(inst.ca), certfile=str(crt), keyfile=str(key))
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a, **k: self.subscribed.set()
        self.client.connect("127.0.0.1", inst.mqtt_port, keepalive=30)
        self.client.loop_start()

    def _on_message(self, _c, _u, msg):
        suffix = msg.topic[len(self.base) + 1:]
        if suffix in ("update", "get", "delete"):
            return  # our own requests echoed back by the wildcard subscription
        with self.lock:
            q = self.replies.setdefault(suffix, queue.Queue())
        q.put(json.loads(msg.payload))

    def subscribe(self):
        self.subscribed.clear()
        self.client.subscribe(f"{self.base}/#", qos=1)
        assert self.subscribed.wait(10), "SUBACK"

    def send(self, op: str, payload) -> None:
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        info = self.client.publish(f"{self.base}/{op}", body, qos=1)
        info.wait_for_publish(10)

    def reply(self, suffix: str, timeout: float = 10) -> dict:
        with self.lock:
            q = self.replies.setdefault(suffix, queue.Queue())
        return q.get(timeout=timeout)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(jitr=True)


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    admin = u.add("shadow-admin@example.com", admin=True)
    u.add("alice@example.com")
    u.add("bob@example.com")
    add_to_catalog(api, admin, (SERIAL, "SN-S001"))
    return u


@pytest.fixture(scope="module")
def device(inst, api, users):
    alice = users.tokens["alice@example.com"]
    register(api, alice, SERIAL)
    d = ShadowDevice(inst, SERIAL)
    wait_status(api, alice, SERIAL, "complete")  # JITR activated the certificate
    d.subscribe()
    yield d
    d.close()


def test_device_update_accepted_documents_and_status(api, users, device):
    alice = users.tokens["alice@example.com"]
    status, _, body = api("GET", f"/api/devices/{SERIAL}/status", token=alice)
    assert (status, body) == (200, {})  # no shadow yet: the seed's {}

    device.send("update", {"state": {"reported": {"powerStatus": "HEAT", "actualTemperature": 70,
                                                  "nested": {"a": 1, "b": 2}}},
                           "clientToken": "t-1"})
    accepted = device.reply("update/accepted")
    assert accepted["clientToken"] == "t-1"
    assert accepted["version"] == 1
    assert accepted["state"]["reported"]["powerStatus"] == "HEAT"
    assert "timestamp" in accepted["metadata"]["reported"]["actualTemperature"]
    documents = device.reply("update/documents")
    assert "previous" not in documents  # this update created the shadow
    assert documents["current"]["version"] == 1

    status, _, body = api("GET", f"/api/devices/{SERIAL}/status", token=alice)
    assert status == 200, body
    assert body["state"]["reported"]["powerStatus"] == "HEAT"
    assert body["connected"] is True
    assert body["version"] == 1


def test_merge_rules_null_removes_and_nested_objects_merge(api, users, device):
    alice = users.tokens["alice@example.com"]
    device.send("update", {"state": {"reported": {"nested": {"b": None, "c": 3},
                                                  "actualTemperature": None}}})
    device.reply("update/accepted")
    device.reply("update/documents")
    status, _, doc = api("GET", f"/api/devices/{SERIAL}/shadow", token=alice)
    assert status == 200, doc
    assert doc["state"]["reported"] == {"powerStatus": "HEAT", "nested": {"a": 1, "c": 3}}
    assert doc["version"] == 2


def test_owner_patch_sends_delta_to_the_device(api, users, device):
    alice = users.tokens["alice@example.com"]
    status, _, body = api("PATCH", f"/api/devices/{SERIAL}/shadow",
                          {"state": {"desired": {"powerStatus": "AC"}}}, token=alice)
    assert status == 200, body
    assert body["state"]["desired"] == {"powerStatus": "AC"}
    delta = device.reply("update/delta")
    assert delta["state"] == {"powerStatus": "AC"}
    assert delta["version"] == body["version"]
    device.reply("update/accepted")
    device.reply("update/documents")

    # The device reports what it applied: desired and reported agree, the delta is gone.
    device.send("update", {"state": {"reported": {"powerStatus": "AC"}}})
    device.reply("update/accepted")
    device.send("get", {"clientToken": "g-1"})
    got = device.reply("get/accepted")
    assert got["clientToken"] == "g-1"
    assert "delta" not in got["state"]
    assert got["state"]["reported"]["powerStatus"] == "AC"


def test_rejections_carry_aws_codes(api, users, device):
    version = device_version(api, users)
    device.send("update", {"state": {"reported": {"x": 1}}, "version": version - 1,
                           "clientToken": "old"})
    r = device.reply("update/rejected")
    assert (r["code"], r["clientToken"]) == (409, "old")
    device.send("update", b"{not json")
    assert device.reply("update/rejected")["code"] == 400
    device.send("update", {"nostate": 1})
    assert device.reply("update/rejected")["code"] == 400
    device.send("update", {"state": {"reported": {"big": "x" * 9000}}})
    assert device.reply("update/rejected")["code"] == 413
    # Nothing of the refused requests was written.
    assert device_version(api, users) == version


def device_version(api, users) -> int:
    status, _, doc = api("GET", f"/api/devices/{SERIAL}/shadow", token=users.tokens["alice@example.com"])
    assert status == 200, doc
    return doc["version"]


def test_owner_route_errors(api, users, device):
    alice, bob = users.tokens["alice@example.com"], users.tokens["bob@example.com"]
    admin = users.tokens["shadow-admin@example.com"]
    assert api("GET", f"/api/devices/{SERIAL}/shadow", token=bob)[0] == 403
    assert api("PATCH", f"/api/devices/{SERIAL}/shadow", {"state": {"desired": {"a": 1}}},
               token=bob)[0] == 403
    assert api("GET", f"/api/devices/{SERIAL}/status", token=bob)[0] == 403
    assert api("GET", "/api/devices/NOPE-1/shadow", token=alice)[0] == 404
    assert api("GET", f"/api/devices/{SERIAL}/shadow")[0] == 401
    assert api("GET", f"/api/devices/{SERIAL}/shadow", token=admin)[0] == 200  # admins see all
    # The owner may not write `reported`; stale versions conflict; a huge desired is too large.
    status, _, body = api("PATCH", f"/api/devices/{SERIAL}/shadow",
                          {"state": {"reported": {"powerStatus": "OFF"}}}, token=alice)
    assert status == 400, body
    status, _, body = api("PATCH", f"/api/devices/{SERIAL}/shadow",
                          {"state": {"desired": {"a": 1}}, "version": 1}, token=alice)
    assert (status, body["error"]) == (409, "VersionConflict"), body
    status, _, body = api("PATCH", f"/api/devices/{SERIAL}/shadow",
                          {"state": {"desired": {"big": "y" * 9000}}}, token=alice)
    assert status == 413, body
    # Registered to alice but no shadow yet: 404 ShadowNotFound; status {}.
    register(api, alice, "SN-S001")
    status, _, body = api("GET", "/api/devices/SN-S001/shadow", token=alice)
    assert (status, body["error"]) == (404, "ShadowNotFound"), body
    assert api("GET", "/api/devices/SN-S001/status", token=alice)[2] == {}


def test_shadow_survives_a_restart_and_delete(inst, api, users, device):
    alice = users.tokens["alice@example.com"]
    before = device_version(api, users)
    device.close()
    inst.stop()  # the managed broker stops with the daemon
    inst.start()
    assert device_version(api, users) == before
    device = ShadowDevice(inst, SERIAL, device.cert)  # a new connection to the new broker
    wait_for(lambda: device.client.is_connected(), 20, "device connected")
    device.subscribe()
    device.send("delete", {"clientToken": "d-1"})
    deleted = device.reply("delete/accepted", timeout=20)
    assert deleted["clientToken"] == "d-1"
    assert deleted["version"] == before
    assert api("GET", f"/api/devices/{SERIAL}/status", token=alice)[2] == {}
    device.send("get", {})
    assert device.reply("get/rejected")["code"] == 404
    device.close()
