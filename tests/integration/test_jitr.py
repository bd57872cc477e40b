"""Just-in-time registration end to end, with real processes: an instance with JITR on (the broker
plugin gates devices until activated), a manufacturer CA created with `smartproductctl ca create`,
a catalog imported by an admin, users registering serials over the API, and devices connecting with
mosquitto_pub over mutual TLS with certificates from that CA.

A long-lived `mosquitto_pub -l` keeps one connection open and publishes a line at a time, so the
tests can show a connected device getting its rights live (no reconnect) and being kicked."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from devices import count, db, issue_cert, publish, tls_args
from harness import Instance, running_instance, wait_for
from test_accounts import Api, ctl, login

PASSWORD = "jitr test password 1"


class Users:
    def __init__(self, api: Api):
        self.api = api
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def add(self, email: str, admin: bool = False) -> str:
        args = ["user", "add", "--config", str(self.api.inst.config), "--email", email,
                "--password-stdin"] + (["--admin"] if admin else [])
        out = ctl(self.api.inst, *args, stdin=PASSWORD + "\n")
        assert out.returncode == 0, out.stderr
        data = login(self.api, email, PASSWORD)[0]
        self.tokens[email] = data["accessToken"]
        status, _, me = self.api("GET", "/api/auth/me", token=data["accessToken"])
        assert status == 200
        self.ids[email] = me.get("userId") or me.get("id")
        return data["accessToken"]


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(jitr=True)


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    u.add("jitr-admin@example.com", admin=True)
    u.add("alice@example.com")
    u.add("bob@example.com")
    # The manufacturer's catalog: serials SN-J000..SN-J019 of model 25HNB9.
    for n in range(20):
        status, _, body = api("POST", "/api/admin/catalog",
                              {"deviceId": f"SN-J{n:03d}", "modelNumber": "25HNB9",
                               "details": {"model": "INFINITY 19 HEAT PUMP"}},
                              token=u.tokens["jitr-admin@example.com"])
        assert status == 201, body
    return u


def add_to_catalog(api, admin_token, serials, model="25HNB9"):
    """The manufacturer's catalog rows for `serials` (no details), as every device test needs."""
    for serial in serials:
        status, _, body = api("POST", "/api/admin/catalog",
                              {"deviceId": serial, "modelNumber": model, "details": {}},
                              token=admin_token)
        assert status == 201, body


def register(api, token, serial, name=None, expect=200):
    status, _, body = api("POST", "/api/registration",
                          {"deviceId": serial, "deviceName": name or f"name-{serial}",
                           "modelNumber": "25HNB9"}, token=token)
    assert status == expect, body
    return body


def device(api, token, serial):
    status, _, body = api("GET", f"/api/devices/{serial}", token=token)
    assert status == 200, body
    return body


def wait_status(api, token, serial, want, timeout=15):
    return wait_for(lambda: device(api, token, serial)["status"] == want, timeout,
                    f"{serial} status {want}")


def telemetry(serial, n=1):
    return json.dumps({"deviceId": serial, "actualTemperature": 70 + n, "targetTemperature": 72,
                       "timestamp": int(time.time() * 1000), "seq": n})


class LiveDevice:
    """One mosquitto_pub -l process: one MQTT v5 connection; each send() publishes one line (QoS 1)
    and returns the PUBACK reason code the broker sent for it."""

    def __init__(self, inst: Instance, serial: str, cert: tuple[Path, Path], topic: str | None = None):
        self.serial = serial
        self.out_path = inst.dir / f"live-{serial}-{time.monotonic_ns()}.log"
        self.out = open(self.out_path, "wb")
        # stdbuf: -d output line by line (it is read while the client runs).
        args = ["stdbuf", "-oL", "mosquitto_pub", "-V", "mqttv5", "-d", "-q", "1", "-l", "-i", serial,
                "-t", topic or f"smartproduct/telemetry/{serial}"] + tls_args(inst, *cert)
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=self.out,
                                     stderr=subprocess.STDOUT)
        wait_for(lambda: "received CONNACK" in self.text() or self.proc.poll() is not None, 10,
                 f"CONNACK for {serial}")

    def text(self) -> str:
        return self.out_path.read_text(errors="replace")

    def connack(self) -> int | None:
        import re
        codes = re.findall(r"received CONNACK \((\d+)\)", self.text())
        return int(codes[0]) if codes else None

    def pubacks(self) -> list[int]:
        import re
        # 0x10 "no matching subscribers" is a success code (the ingest spool: no subscriber).
        return [0 if int(x) == 0x10 else int(x)
                for x in re.findall(r"received PUBACK \(Mid: \d+, RC:(\d+)\)", self.text())]

    def send(self, line: str) -> int:
        before = len(self.pubacks())
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        wait_for(lambda: len(self.pubacks()) > before or not self.alive(), 10,
                 f"PUBACK for {self.serial}")
        acks = self.pubacks()
        assert len(acks) > before, f"no PUBACK (process ended):\n{self.text()}"
        return acks[-1]

    def alive(self) -> bool:
        """Still connected: mosquitto_pub -l neither exits nor reconnects after a DISCONNECT from
        the broker, so a kick shows only in its output."""
        import re
        return self.proc.poll() is None and not re.search(r"received DISCONNECT", self.text(), re.I)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.out.close()


def plugin_state(inst) -> dict:
    try:
        return json.loads((inst.dir / "broker" / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def cert_row(inst, serial):
    with db(inst) as conn:
        return conn.execute("SELECT status, status_reason, registration_id FROM device_certificates "
                            "WHERE device_id = ? ORDER BY first_seen_at DESC LIMIT 1",
                            (serial,)).fetchone()


def security_events(api, token, serial):
    status, _, body = api("GET", f"/api/admin/security-events?deviceId={serial}", token=token)
    assert status == 200, body
    return [e["kind"] for e in body["Items"]]


def create_cas(inst, api, admin_token, *names) -> dict[str, str]:
    """Managed CAs (`smartproductctl ca create`, ACTIVE and auto-registering); name -> caId of
    every registered CA."""
    for name in names:
        out = ctl(inst, "ca", "create", "--name", name, "--config", str(inst.config))
        assert out.returncode == 0, out.stdout + out.stderr
    status, _, cas = api("GET", "/api/admin/cas", token=admin_token)
    assert status == 200, cas
    return {c["name"]: c["caId"] for c in cas["Items"]}


def test_register_then_connect_activates_and_stores_telemetry(inst, api, users):
    alice = users.tokens["alice@example.com"]
    reg = register(api, alice, "SN-J000")
    assert reg["status"] == "pending"
    cert = issue_cert(inst, "SN-J000")
    # The registration reaches the broker plugin asynchronously (milliseconds; the plugin's state
    # file shows it); after that a registered serial's certificate from an auto-registering CA is
    # pre-authorized: even the first message of a one-shot mosquitto_pub is accepted.
    wait_for(lambda: "SN-J000" in plugin_state(inst).get("registeredUsernames", []), 10,
             "registration known to the broker plugin")
    r = publish(inst, "SN-J000", "smartproduct/telemetry/SN-J000", telemetry("SN-J000", 0),
                cert=cert)
    assert r.connack == 0 and r.pubacks == [0], r
    dev = LiveDevice(inst, "SN-J000", cert)
    try:
        assert dev.connack() == 0
        wait_status(api, alice, "SN-J000", "complete")
        got = device(api, alice, "SN-J000")
        assert got["activatedAt"]
        # Rights were granted to the open connection: no reconnect needed.
        assert dev.send(telemetry("SN-J000")) == 0
        assert dev.alive()
        wait_for(lambda: count(inst, "SELECT count(*) FROM telemetry WHERE device_id = 'SN-J000'",
                               name="telemetry.db") >= 1, 10, "telemetry stored")
        status, _, certs = api("GET", "/api/devices/SN-J000/certificates", token=alice)
        assert status == 200
        assert [c["status"] for c in certs["Items"]] == ["ACTIVE"]
        # The devices list shows it connected.
        status, _, things = api("GET", "/api/devices", token=alice)
        thing = next(t for t in things if t["thingName"] == "SN-J000")
        assert thing["connectivity"]["connected"] is True and thing["status"] == "complete"
    finally:
        dev.close()


def test_connect_then_register_activates_the_open_connection(inst, api, users):
    bob = users.tokens["bob@example.com"]
    cert = issue_cert(inst, "SN-J001")
    dev = LiveDevice(inst, "SN-J001", cert)
    try:
        assert dev.connack() == 0
        # Connected, recorded as pending, without rights yet.
        wait_for(lambda: (cert_row(inst, "SN-J001") or [None])[0] == "PENDING_ACTIVATION", 10,
                 "certificate pending")
        assert dev.send(telemetry("SN-J001", 1)) == 135
        register(api, bob, "SN-J001")
        wait_status(api, bob, "SN-J001", "complete")
        assert dev.send(telemetry("SN-J001", 2)) == 0
        assert dev.alive()
    finally:
        dev.close()


def test_unknown_serial_is_refused_with_a_security_event(inst, api, users):
    admin = users.tokens["jitr-admin@example.com"]
    cert = issue_cert(inst, "NOT-IN-CATALOG")
    dev = LiveDevice(inst, "NOT-IN-CATALOG", cert)
    try:
        wait_for(lambda: not dev.alive(), 10, "refused device disconnected")
    finally:
        dev.close()
    assert cert_row(inst, "NOT-IN-CATALOG")[:2] == ("REFUSED", "device_not_in_catalog")
    assert "device_not_in_catalog" in security_events(api, admin, "NOT-IN-CATALOG")
    # Every further attempt is refused too.
    r = publish(inst, "NOT-IN-CATALOG", "smartproduct/telemetry/NOT-IN-CATALOG",
                telemetry("NOT-IN-CATALOG"), cert=cert)
    assert r.pubacks != [0], r


def test_catalog_entry_bound_to_a_ca_activates_only_with_that_ca(inst, api, users):
    """Issue 10 finding 1: a serial bound to its manufacturer's CA is not activated by a certificate
    of another registered CA (refused with a security event), and is not pre-authorized at the
    broker; the bound CA's certificate activates it."""
    admin = users.tokens["jitr-admin@example.com"]
    alice = users.tokens["alice@example.com"]
    maker = create_cas(inst, api, admin, "maker", "other-maker")["maker"]
    # Bad bindings: not a CA id, an id no CA has, a wrong type.
    for bad in ("zz-not-hex", "ABCDEF0123", 42):
        status, _, body = api("POST", "/api/admin/catalog",
                              {"deviceId": "SN-JB01", "modelNumber": "25HNB9", "caId": bad},
                              token=admin)
        assert status == 422 and body["error"] == "InvalidCatalogEntry", (bad, body)
    # The id as an admin may paste it: lower case with colons; stored normalized.
    pasted = ":".join(maker[i:i + 2] for i in range(0, len(maker), 2)).lower()
    status, _, body = api("POST", "/api/admin/catalog",
                          {"deviceId": "SN-JB01", "modelNumber": "25HNB9", "caId": pasted},
                          token=admin)
    assert status == 201 and body["caId"] == maker, body
    status, _, body = api("GET", "/api/admin/catalog/SN-JB01/25HNB9", token=admin)
    assert status == 200 and body["caId"] == maker, body

    register(api, alice, "SN-JB01")
    # Not pre-authorized: alice's next registration reaches the plugin, this one does not.
    add_to_catalog(api, admin, ["SN-JB02"])
    register(api, alice, "SN-JB02")
    wait_for(lambda: "SN-JB02" in plugin_state(inst).get("registeredUsernames", []), 10,
             "the unbound serial pre-authorized")
    assert "SN-JB01" not in plugin_state(inst).get("registeredUsernames", [])

    wrong = issue_cert(inst, "SN-JB01", ca="other-maker", out="devices-wrong-ca")
    dev = LiveDevice(inst, "SN-JB01", wrong)
    try:
        wait_for(lambda: not dev.alive(), 10, "device with the other CA's certificate disconnected")
    finally:
        dev.close()
    assert cert_row(inst, "SN-JB01")[:2] == ("REFUSED", "ca_not_bound_to_device")
    assert "ca_not_bound_to_device" in security_events(api, admin, "SN-JB01")
    assert device(api, alice, "SN-JB01")["status"] == "pending"
    r = publish(inst, "SN-JB01", "smartproduct/telemetry/SN-JB01", telemetry("SN-JB01"), cert=wrong)
    assert r.pubacks != [0], r

    # Binding an already registered serial, here with the CLI (outside the daemon), takes it out
    # of pre-authorization at the next state resend (the catalog write bumps the state revision).
    bind = inst.dir / "bind.csv"
    bind.write_text(f"deviceId,modelNumber,details,caId\nSN-JB02,25HNB9,,{maker}\n")
    out = ctl(inst, "catalog", "import", "--replace", "--config", str(inst.config), str(bind))
    assert out.returncode == 0, out.stdout + out.stderr
    wait_for(lambda: "SN-JB02" not in plugin_state(inst).get("registeredUsernames", []), 15,
             "the newly bound serial no longer pre-authorized")

    right = issue_cert(inst, "SN-JB01", ca="maker")
    dev = LiveDevice(inst, "SN-JB01", right)
    try:
        wait_status(api, alice, "SN-JB01", "complete")
        assert dev.send(telemetry("SN-JB01")) == 0
    finally:
        dev.close()


def test_inactive_and_deregistered_cas_are_refused(inst, api, users):
    admin = users.tokens["jitr-admin@example.com"]
    alice = users.tokens["alice@example.com"]
    ids = create_cas(inst, api, admin, "paused", "retired")

    # Inactive CA: out of the broker's capath (and the managed broker restarted, since mosquitto
    # keeps a CA it has used until it exits): the TLS handshake itself fails.
    register(api, alice, "SN-J002")
    cert = issue_cert(inst, "SN-J002", ca="paused")
    old_broker = inst.broker_pid()
    status, _, body = api("PATCH", f"/api/admin/cas/{ids['paused']}", {"status": "INACTIVE"},
                          token=admin)
    assert status == 200 and body["status"] == "INACTIVE", body
    # The restart is under way; let it finish before the next device connects.
    wait_for(lambda: inst.broker_pid() not in (None, old_broker), 20, "managed broker restarted")
    wait_for(lambda: inst.status("/readyz") == 200, 20, "daemon reconnected to the broker")
    r = wait_for(lambda: (lambda x: x if x.tls_failed else None)(
        publish(inst, "SN-J002", "smartproduct/telemetry/SN-J002", telemetry("SN-J002"), cert=cert)),
        30, "inactive CA refused by TLS", interval=0.5)
    assert r.tls_failed, r
    assert device(api, alice, "SN-J002")["status"] == "pending"

    # A device of an active CA, connected and active; deregistering the CA kicks it at once.
    register(api, alice, "SN-J003")
    cert3 = issue_cert(inst, "SN-J003", ca="retired")
    dev = LiveDevice(inst, "SN-J003", cert3)
    try:
        wait_status(api, alice, "SN-J003", "complete")
        assert dev.send(telemetry("SN-J003")) == 0
        status, _, body = api("DELETE", f"/api/admin/cas/{ids['retired']}", token=admin)
        assert status == 200 and body["status"] == "DEREGISTERED", body
        wait_for(lambda: not dev.alive(), 10, "device of the deregistered CA kicked")
    finally:
        dev.close()
    r = wait_for(lambda: (lambda x: x if x.tls_failed else None)(
        publish(inst, "SN-J003", "smartproduct/telemetry/SN-J003", telemetry("SN-J003"), cert=cert3)),
        30, "deregistered CA refused by TLS", interval=0.5)
    assert r.tls_failed, r
    # The managed broker restarted for the deregistration: let the daemon reconnect and resync the
    # plugin before the next test's devices connect (as after the deactivation above).
    wait_for(lambda: inst.status("/readyz") == 200, 20, "daemon reconnected to the broker")


def test_delete_kicks_and_refuses_then_new_owner_gets_the_events(inst, api, users):
    alice = users.tokens["alice@example.com"]
    bob = users.tokens["bob@example.com"]
    register(api, alice, "SN-J004")
    cert = issue_cert(inst, "SN-J004")
    dev = LiveDevice(inst, "SN-J004", cert, topic="smartproduct/event/SN-J004")
    try:
        assert dev.connack() == 0, dev.text()
        wait_status(api, alice, "SN-J004", "complete")
        event = {"messageId": "m-alice-1", "type": "warning", "message": "for alice",
                 "details": {}, "timestamp": int(time.time() * 1000)}
        assert dev.send(json.dumps(event)) == 0
        status, _, body = api("DELETE", "/api/devices/SN-J004", token=alice)
        assert status == 200 and body == "Delete successful"
        wait_for(lambda: not dev.alive(), 10, "deleted device kicked")
    finally:
        dev.close()
    assert device(api, alice, "SN-J004")["status"] == "deleted"
    r = publish(inst, "SN-J004", "smartproduct/event/SN-J004", "{}", cert=cert)
    assert r.refused, r
    status, _, certs = api("GET", "/api/devices/SN-J004/certificates", token=alice)
    assert [c["status"] for c in certs["Items"]] == ["REVOKED"]

    # Bob registers the serial; the device gets a new certificate and its events are Bob's.
    register(api, bob, "SN-J004")
    cert2 = issue_cert(inst, "SN-J004", out="devices-bob")
    dev = LiveDevice(inst, "SN-J004", cert2, topic="smartproduct/event/SN-J004")
    try:
        wait_status(api, bob, "SN-J004", "complete")
        event = {"messageId": "m-bob-1", "type": "warning", "message": "for bob", "details": {},
                 "timestamp": int(time.time() * 1000)}
        assert dev.send(json.dumps(event)) == 0
    finally:
        dev.close()
    owners = dict(db(inst).execute("SELECT message_id, user_id FROM events WHERE device_id = ?",
                                   ("SN-J004",)).fetchall())
    assert owners == {"m-alice-1": users.ids["alice@example.com"],
                      "m-bob-1": users.ids["bob@example.com"]}
    # Alice keeps her deleted row as history; Bob sees his live one.
    assert device(api, alice, "SN-J004")["status"] == "deleted"
    assert device(api, bob, "SN-J004")["status"] == "complete"


def test_connections_while_the_daemon_is_down_are_reconciled(inst, api, users):
    alice = users.tokens["alice@example.com"]
    register(api, alice, "SN-J005")
    cert = issue_cert(inst, "SN-J005")
    # kill -9: the managed broker survives and keeps the daemon's session (and its presence
    # events) until the next daemon adopts it.
    inst.proc.send_signal(signal.SIGKILL)
    inst.proc.wait(10)
    try:
        r = publish(inst, "SN-J005", "smartproduct/telemetry/SN-J005", telemetry("SN-J005"),
                    cert=cert)
        # Registered before: the plugin pre-authorizes it even with no daemon to ask.
        assert r.connack == 0 and r.pubacks == [0], r
    finally:
        inst.start()
    # The connection's presence event waited in the daemon's session: recorded and activated.
    wait_status(api, alice, "SN-J005", "complete", timeout=20)
    assert cert_row(inst, "SN-J005")[0] == "ACTIVE"
    r = publish(inst, "SN-J005", "smartproduct/telemetry/SN-J005", telemetry("SN-J005", 2),
                cert=cert)
    assert r.pubacks == [0], r


def test_connection_info_tells_where_devices_connect(inst, api, users):
    alice = users.tokens["alice@example.com"]
    status, _, info = api("GET", "/api/connection-info", token=alice)
    assert status == 200, info
    assert info["mqttPort"] == inst.mqtt_port
    assert info["rootCaPem"] == inst.ca.read_text()
    assert info["mqttHost"] in ("localhost", "127.0.0.1")  # the host this API was reached at
    assert info["telemetryTopic"] == "smartproduct/telemetry"
    status, _, _ = api("GET", "/api/connection-info")
    assert status == 401
