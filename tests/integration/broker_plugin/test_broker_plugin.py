"""Integration tests: a real mosquitto 2.0.11 with mosquitto_smartproduct.so, real mTLS clients.

Run:  /usr/bin/python3 -m pytest -q tests/integration/broker_plugin
The plugin is taken from $SP_PLUGIN_PATH or the newest build*/bin/mosquitto_smartproduct.so.
A throwaway PKI (openssl CLI) and broker config are created in a temp dir; the broker is always
stopped by pid at teardown.
"""

import glob
import json
import os
import pwd
import queue
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

REPO = Path(__file__).resolve().parents[3]
MOSQUITTO = "/usr/sbin/mosquitto"
PRESENCE = "$SYS/smartproduct/presence/"
CONTROL = "$CONTROL/smartproduct/v1"
CONTROL_RESPONSE = "$CONTROL/smartproduct/v1/response"
BEHAVIOUR = "$SYS/smartproduct/behaviour"
BEHAVIOUR_MS = 400  # plugin_opt_behaviour_interval_ms of the test broker
TIMEOUT = 10.0


# --------------------------------------------------------------------------- PKI

def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ext_file(d, name, text):
    p = d / f"{name}.ext"
    p.write_text(text)
    return str(p)


def _make_ca(d, name, cn):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/O=SP Test/CN={cn}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def _make_leaf(d, name, cn, ca, server=False):
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/O=SP Test/CN={cn}", cwd=d)
    ext = ("basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
           "keyUsage=critical,digitalSignature\n")
    ext += ("extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n" if server
            else "extendedKeyUsage=clientAuth\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-sha256", "-out", f"{name}.crt",
             "-extfile", _ext_file(d, name, ext), cwd=d)


def fingerprint(cert_path):
    out = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-noout", "-fingerprint", "-sha256"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "").upper()


def subject_key_id(cert_path):
    out = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-noout", "-ext", "subjectKeyIdentifier"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1].strip().replace(":", "").upper()


def make_pki(d):
    d.mkdir()
    _make_ca(d, "root", "SP Test Root")
    _make_leaf(d, "server", "127.0.0.1", "root", server=True)
    _make_leaf(d, "svc-backend", "svc-backend", "root")
    _make_ca(d, "devca", "Acme Device CA")
    for sn in ("SN1", "SN10", "SN2", "SN3", "SN4", "SN5"):
        _make_leaf(d, sn, sn, "devca")
    _make_ca(d, "rogue", "Rogue CA")
    _make_leaf(d, "rogue-SN1", "SN1", "rogue")
    capath = d / "device-cas"
    capath.mkdir()
    shutil.copy(d / "devca.crt", capath / "devca.pem")
    subprocess.run(["openssl", "rehash", str(capath)], check=True, capture_output=True)
    return d


# --------------------------------------------------------------------------- broker

def find_plugin():
    env = os.environ.get("SP_PLUGIN_PATH")
    if env:
        return Path(env)
    found = [Path(p) for p in glob.glob(str(REPO / "build*" / "bin" / "mosquitto_smartproduct.so"))]
    if not found:
        pytest.fail("mosquitto_smartproduct.so not built (set SP_PLUGIN_PATH or build into build*/bin)")
    return max(found, key=lambda p: p.stat().st_mtime)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, root):
        self.root = root
        self.pki = make_pki(root / "pki")
        self.port = free_port()
        self.state_file = root / "state" / "broker-state.json"
        self.log_path = root / "mosquitto.log"
        self.proc = None
        (root / "state").mkdir()
        (root / "persist").mkdir()
        (root / "plugin").mkdir()
        # Never run the broker on the build output directly: it maps the file, and a rebuild in
        # place would crash it.
        self.plugin = root / "plugin" / "mosquitto_smartproduct.so"
        shutil.copy(find_plugin(), self.plugin)
        (root / "services.acl").write_text(
            "user svc-backend\n"
            "topic readwrite smartproduct/#\n"
            "topic readwrite $aws/things/#\n"
            "topic read $SYS/#\n"
            "topic readwrite $CONTROL/smartproduct/#\n")
        p = self.pki
        (root / "mosquitto.conf").write_text(f"""
per_listener_settings false
allow_anonymous false
set_tcp_nodelay true
max_inflight_messages 100
max_queued_messages 100000
max_queued_bytes 268435456
persistence true
persistence_location {root}/persist/
autosave_interval 30
persistent_client_expiration 14d
connection_messages true
log_dest file {self.log_path}
log_type all

listener {self.port} 127.0.0.1
cafile {p}/root.crt
capath {p}/device-cas
certfile {p}/server.crt
keyfile {p}/server.key
require_certificate true
use_identity_as_username false
tls_version tlsv1.2

plugin {self.plugin}
plugin_opt_state_file {self.state_file}
plugin_opt_service_users svc-backend
plugin_opt_service_ca {p}/root.crt
plugin_opt_device_ca_dir {p}/device-cas
plugin_opt_behaviour_interval_ms {BEHAVIOUR_MS}
acl_file {root}/services.acl
""")
        self._fix_ownership()

    def _fix_ownership(self):
        # As root, mosquitto drops privileges to the "mosquitto" user; everything it reads or
        # writes must belong to that user (never run the broker as root).
        if os.geteuid() != 0:
            return
        pw = pwd.getpwnam("mosquitto")
        os.chmod(self.root, 0o755)
        for dirpath, dirnames, filenames in os.walk(self.root):
            os.chown(dirpath, pw.pw_uid, pw.pw_gid)
            for f in filenames:
                os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)

    def start(self):
        self._log = open(self.root / "mosquitto.stdout", "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.root / "mosquitto.conf")],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}:\n{self.log()}"
                                   + (self.root / "mosquitto.stdout").read_text(errors="replace"))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not open its port:\n" + self.log())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def sighup(self):
        self.proc.send_signal(signal.SIGHUP)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@pytest.fixture(scope="module")
def broker():
    if not os.path.exists(MOSQUITTO):
        pytest.skip("mosquitto is not installed")
    root = Path(tempfile.mkdtemp(prefix="sp-broker-it-"))
    b = None
    try:
        b = Broker(root)
        b.start()
        yield b
    finally:
        if b is not None:
            b.stop()
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- clients

def tls_context(pki, cert, ca="root"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the broker and its SAN
    ctx.load_verify_locations(str(pki / f"{ca}.crt"))
    ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    return ctx


def mqtt5_connect_packet(client_id):
    cid = client_id.encode()
    var = b"\x00\x04MQTT" + bytes([5, 0x02]) + struct.pack("!H", 30) + b"\x00"
    body = var + struct.pack("!H", len(cid)) + cid
    assert len(body) < 128
    return bytes([0x10, len(body)]) + body


class _AckClient(mqtt.Client):
    """paho 1.6 drops the PUBACK reason code; keep it per message id."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.puback_rc = {}

    def _handle_pubackcomp(self, cmd):
        if cmd == "PUBACK" and len(self._in_packet["packet"]) >= 2:
            mid, = struct.unpack("!H", self._in_packet["packet"][:2])
            pkt = self._in_packet["packet"]
            self.puback_rc[mid] = pkt[2] if len(pkt) > 2 else 0
        return super()._handle_pubackcomp(cmd)


class Client:
    def __init__(self, broker, cert, client_id=None, ca="root"):
        pki = broker.pki
        self.broker = broker
        self.connack = queue.Queue()
        self.messages = queue.Queue()
        self.disconnects = queue.Queue()
        self.subacks = {}
        self._sub_events = {}
        self.c = _AckClient(client_id=client_id if client_id is not None else cert,
                            protocol=mqtt.MQTTv5)
        self.c.tls_set_context(tls_context(pki, cert, ca))
        self.c.on_connect = lambda c, u, f, rc, p: self.connack.put(rc.value)
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_disconnect = self._on_disconnect
        self.c.on_subscribe = self._on_subscribe
        self._started = False

    def _on_subscribe(self, c, u, mid, rcs, props):
        self.subacks[mid] = [r.value for r in rcs]
        self._sub_events.setdefault(mid, threading.Event()).set()

    def _on_disconnect(self, c, u, rc, props=None):
        self.disconnects.put(rc.value if hasattr(rc, "value") else rc)
        # No automatic reconnect: a kicked or refused client must stay down. Marking the client
        # as disconnecting makes paho's network thread exit instead of reconnecting.
        c.disconnect()

    def connect(self):
        """Returns the CONNACK reason code, or None when the connection died without one."""
        self.c.connect("127.0.0.1", self.broker.port, keepalive=30)
        # paho's own network thread: all socket writes happen there (SSL objects are not
        # thread-safe).
        self.c.loop_start()
        self._started = True
        try:
            return self.connack.get(timeout=TIMEOUT)
        except queue.Empty:
            return None

    def publish(self, topic, payload="{}", qos=1):
        info = self.c.publish(topic, payload, qos=qos)
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            if info.mid in self.c.puback_rc:
                return self.c.puback_rc[info.mid]
            time.sleep(0.01)
        raise AssertionError(f"no PUBACK for {topic}")

    def subscribe(self, topic, qos=1):
        ev = threading.Event()
        rc, mid = self.c.subscribe(topic, qos=qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        ev = self._sub_events.setdefault(mid, ev)
        assert ev.wait(TIMEOUT), f"no SUBACK for {topic}"
        return self.subacks[mid]

    def wait_message(self, pred, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                return None
            try:
                m = self.messages.get(timeout=left)
            except queue.Empty:
                return None
            if pred(m):
                return m

    def close(self):
        try:
            self.c.disconnect()
        except Exception:
            pass
        if self._started:
            self.c.loop_stop()
            self._started = False


class Backend(Client):
    """svc-backend: watches presence and sends control commands."""

    def __init__(self, broker):
        super().__init__(broker, "svc-backend", client_id=f"backend-{time.monotonic_ns()}")
        self.events = []
        self.responses = queue.Queue()
        self._cond = threading.Condition()
        self.c.on_message = self._on_message
        self._next_id = 0

    def _on_message(self, c, u, m):
        if m.topic == CONTROL_RESPONSE:
            self.responses.put(json.loads(m.payload))
        elif m.topic.startswith(PRESENCE):
            with self._cond:
                self.events.append((m.topic, json.loads(m.payload), m.retain))
                self._cond.notify_all()
        else:
            self.messages.put(m)

    def start(self):
        assert self.connect() == 0
        assert self.subscribe(PRESENCE + "#") == [1]
        return self

    def wait_event(self, pred, timeout=TIMEOUT):
        deadline = time.time() + timeout
        with self._cond:
            while True:
                for t, e, r in self.events:
                    if pred(t, e, r):
                        return e
                left = deadline - time.time()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def count_events(self, pred):
        with self._cond:
            return sum(1 for t, e, r in self.events if pred(t, e, r))

    def control(self, *commands):
        self._next_id += 1
        cid = f"req-{self._next_id}"
        cmds = [dict(c) for c in commands]
        cmds[0]["id"] = cid
        assert self.publish(CONTROL, json.dumps({"commands": cmds})) in (0, 16)
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            r = self.responses.get(timeout=max(0.01, deadline - time.time()))
            if r["responses"] and r["responses"][0].get("id") == cid:
                return r["responses"]
        raise AssertionError("no control response")


@pytest.fixture
def backend(broker):
    b = Backend(broker).start()
    yield b
    b.close()


@pytest.fixture
def clients(broker):
    made = []

    def make(cert, client_id=None, ca="root"):
        c = Client(broker, cert, client_id, ca)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


OK = (0, 16)  # PUBACK success / no matching subscribers


# --------------------------------------------------------------------------- tests

def test_own_topics_are_allowed(broker, backend, clients):
    sn1 = clients("SN1")
    assert sn1.connect() == 0
    for topic in ("smartproduct/telemetry/SN1", "smartproduct/event/SN1", "smartproduct/commands/SN1",
                  "smartproduct/commands/SN1/response", "$aws/things/SN1/shadow/update",
                  "$aws/things/SN1/shadow/get", "$aws/things/SN1/shadow/delete"):
        assert sn1.publish(topic) in OK, topic
    assert sn1.subscribe("smartproduct/commands/SN1/#") == [1]
    assert sn1.subscribe("smartproduct/commands/SN1") == [1]
    assert sn1.subscribe("$aws/things/SN1/shadow/#") == [1]


def test_backend_receives_device_telemetry_and_device_receives_commands(broker, backend, clients):
    assert backend.subscribe("smartproduct/telemetry/#") == [1]
    sn1 = clients("SN1")
    assert sn1.connect() == 0
    assert sn1.subscribe("smartproduct/commands/SN1") == [1]
    assert sn1.publish("smartproduct/telemetry/SN1", '{"t":1}') == 0  # has a subscriber
    m = backend.wait_message(lambda m: m.topic == "smartproduct/telemetry/SN1")
    assert m is not None and json.loads(m.payload) == {"t": 1}
    assert backend.publish("smartproduct/commands/SN1", '{"commandId":"c1"}') == 0
    assert sn1.wait_message(lambda m: m.topic == "smartproduct/commands/SN1") is not None


def test_foreign_publish_is_refused_with_135(broker, backend, clients):
    sn1 = clients("SN1")
    sn10 = clients("SN10")
    assert sn1.connect() == 0
    assert sn10.connect() == 0
    for topic in ("smartproduct/telemetry/SN10", "smartproduct/telemetry/SN2",
                  "smartproduct/commands/SN10", "$aws/things/SN10/shadow/update",
                  "smartproduct/telemetry/SN1/extra", "smartproduct/other"):
        assert sn1.publish(topic) == 135, topic
    assert sn10.publish("smartproduct/telemetry/SN1") == 135
    assert sn10.publish("smartproduct/telemetry/SN10") in OK


def test_foreign_subscribe_is_refused_with_135(broker, backend, clients):
    sn1 = clients("SN1")
    assert sn1.connect() == 0
    for flt in ("smartproduct/commands/+", "smartproduct/#", "#", "$SYS/#",
                "$SYS/smartproduct/presence/#", "smartproduct/commands/SN10/#",
                "$aws/things/+/shadow/#", "$CONTROL/smartproduct/#"):
        assert sn1.subscribe(flt) == [135], flt


def test_device_cannot_use_control_topic(broker, backend, clients):
    sn1 = clients("SN1")
    assert sn1.connect() == 0
    assert sn1.publish(CONTROL, json.dumps({"commands": [{"command": "revoke", "username": "SN10"}]})) == 135
    # the backend still sees nothing revoked
    assert backend.control({"command": "listConnected"})[0]["clients"]


def test_client_id_mismatch_is_refused(broker, backend, clients):
    fake = clients("SN1", client_id="SN2")
    assert fake.connect() == 135
    ev = backend.wait_event(lambda t, e, r: e.get("event") == "rejected" and e.get("clientId") == "SN2")
    assert ev is not None
    assert ev["reason"] == "client_id_mismatch"
    assert ev["username"] == "SN1"


def test_rogue_ca_is_refused_at_tls(broker):
    # Raw TLS so the failure is observed here, not in a client library thread. With TLS 1.3 the
    # client finishes its handshake first and then reads the server's alert instead of a CONNACK.
    ctx = tls_context(broker.pki, "rogue-SN1")
    reply = b""
    error = None
    try:
        with socket.create_connection(("127.0.0.1", broker.port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(mqtt5_connect_packet("SN1"))
                reply = s.recv(16)
    except (ssl.SSLError, ConnectionError) as e:
        error = e
    assert not reply.startswith(b"\x20")  # never a CONNACK
    assert error is not None or reply == b""
    deadline = time.time() + TIMEOUT
    while "certificate verify failed" not in broker.log() and time.time() < deadline:
        time.sleep(0.05)
    assert "certificate verify failed" in broker.log()


def test_presence_connected_and_disconnected_carry_conn_seq(broker, backend, clients):
    started = backend.wait_event(lambda t, e, r: t == PRESENCE + "_broker")
    assert started is not None and started["event"] == "broker_started"
    assert started["pid"] == broker.proc.pid
    sn2 = clients("SN2")
    assert sn2.connect() == 0
    conn = backend.wait_event(lambda t, e, r: t == PRESENCE + "SN2" and e["event"] == "connected")
    assert conn is not None
    assert conn["clientId"] == "SN2" and conn["username"] == "SN2"
    assert conn["certFingerprint"] == fingerprint(broker.pki / "SN2.crt")
    assert conn["aki"] == subject_key_id(broker.pki / "devca.crt")
    assert "CN=Acme Device CA" in conn["issuer"]
    assert conn["protocolVersion"] == 5 and conn["address"] == "127.0.0.1"
    assert conn["epoch"] == started["epoch"]
    assert conn["connSeq"] >= 1
    sn2.close()
    disc = backend.wait_event(lambda t, e, r: t == PRESENCE + "SN2" and e["event"] == "disconnected"
                              and e["connSeq"] == conn["connSeq"])
    assert disc is not None
    # A second connection gets a higher sequence number.
    again = clients("SN2")
    assert again.connect() == 0
    conn2 = backend.wait_event(lambda t, e, r: t == PRESENCE + "SN2" and e["event"] == "connected"
                               and e["connSeq"] != conn["connSeq"])
    assert conn2["connSeq"] > conn["connSeq"]


def test_list_connected(broker, backend, clients):
    sn1 = clients("SN1")
    assert sn1.connect() == 0
    resp = backend.control({"command": "listConnected"})
    assert len(resp) == 1 and "error" not in resp[0]
    entry = [c for c in resp[0]["clients"] if c["clientId"] == "SN1"]
    assert len(entry) == 1
    assert entry[0]["certFingerprint"] == fingerprint(broker.pki / "SN1.crt")
    assert entry[0]["username"] == "SN1"
    assert entry[0]["connectedAtMs"] > 0
    assert any(c["username"] == "svc-backend" for c in resp[0]["clients"])
    assert isinstance(resp[0]["epoch"], int)


def test_control_errors_do_not_crash(broker, backend):
    assert backend.publish(CONTROL, "not json") in OK
    r = backend.responses.get(timeout=TIMEOUT)
    assert "error" in r["responses"][0]
    resp = backend.control({"command": "nope"}, {"command": "revoke"})
    assert resp[0]["error"] == "unknown command"
    assert "error" in resp[1]
    assert backend.control({"command": "listConnected"})[0]["clients"]  # broker alive


def test_revoke_kicks_at_once_refuses_reconnect_and_survives_restart(broker, backend, clients):
    fp = fingerprint(broker.pki / "SN3.crt")
    sn3 = clients("SN3")
    assert sn3.connect() == 0
    t0 = time.time()
    resp = backend.control({"command": "revoke", "fingerprint": fp})
    assert resp[0]["kicked"] == 1
    assert sn3.disconnects.get(timeout=TIMEOUT) is not None
    assert time.time() - t0 < 3
    assert fp in json.loads(broker.state_file.read_text())["revokedFingerprints"]

    retry = clients("SN3")
    assert retry.connect() == 135
    rej = backend.wait_event(lambda t, e, r: t == PRESENCE + "SN3" and e["event"] == "rejected")
    assert rej["reason"] == "revoked"
    retry.close()
    backend.close()

    # The broker reloads the revocation from its state file after a restart.
    old_epoch = None
    broker.stop()
    time.sleep(1.1)  # epochs are seconds: make the new one distinct
    broker.start()
    b2 = Backend(broker).start()
    try:
        started = b2.wait_event(lambda t, e, r: t == PRESENCE + "_broker")
        assert started["pid"] == broker.proc.pid
        old_epoch = started["epoch"]
        after = clients("SN3")
        assert after.connect() == 135
        after.close()
        assert b2.control({"command": "unrevoke", "fingerprint": fp})[0].get("error") is None
        ok = clients("SN3")
        assert ok.connect() == 0
    finally:
        b2.close()
    assert old_epoch is not None


def test_disable_ca_kicks_devices_of_that_ca(broker, backend, clients):
    aki = subject_key_id(broker.pki / "devca.crt")
    sn10 = clients("SN10")
    assert sn10.connect() == 0
    resp = backend.control({"command": "disableCa", "aki": aki})
    assert resp[0]["kicked"] >= 1
    assert sn10.disconnects.get(timeout=TIMEOUT) is not None
    retry = clients("SN10")
    assert retry.connect() == 135
    assert backend.control({"command": "enableCa", "aki": aki})[0].get("error") is None
    ok = clients("SN10")
    assert ok.connect() == 0


def test_sighup_does_not_reannounce_and_applies_state_file(broker, backend, clients):
    sn1 = clients("SN1")
    assert sn1.connect() == 0
    conn = backend.wait_event(lambda t, e, r: t == PRESENCE + "SN1" and e["event"] == "connected"
                              and e["clientId"] == "SN1")
    sn10 = clients("SN10")
    assert sn10.connect() == 0
    backend.wait_event(lambda t, e, r: t == PRESENCE + "SN10" and e["event"] == "connected")
    before = backend.count_events(lambda t, e, r: e.get("event") == "connected")

    # Revoke SN10 behind the plugin's back, as an operator editing the file would.
    state = json.loads(broker.state_file.read_text()) if broker.state_file.exists() else {}
    state.setdefault("revokedUsernames", []).append("SN10")
    broker.state_file.write_text(json.dumps(state))
    broker.sighup()

    assert sn10.disconnects.get(timeout=TIMEOUT) is not None  # re-auth denial disconnects
    # Barrier: the broker runs the plugin on one thread, so the answer to a control command sent
    # now comes after every presence event the re-authentication published.
    listed = backend.control({"command": "listConnected"})[0]["clients"]
    assert [(c["clientId"], c["connSeq"]) for c in listed if c["clientId"] == "SN1"] == \
        [("SN1", conn["connSeq"])]  # the same connection, not a re-announced one
    assert backend.count_events(lambda t, e, r: e.get("event") == "connected") == before
    assert sn1.publish("smartproduct/telemetry/SN1") in OK  # SN1 still connected
    assert backend.count_events(lambda t, e, r: t == PRESENCE + "SN1"
                                and e["event"] == "disconnected") == 0
    assert backend.control({"command": "unrevoke", "username": "SN10"})[0].get("error") is None


def test_username_from_client_is_replaced_by_cn(broker, backend, clients):
    spoof = clients("SN1")
    spoof.c.username_pw_set("svc-backend", "whatever")
    assert spoof.connect() == 0
    ev = backend.wait_event(lambda t, e, r: t == PRESENCE + "SN1" and e["event"] == "connected")
    assert ev["username"] == "SN1"
    assert spoof.publish("smartproduct/telemetry/SN2") == 135  # not the backend's rights
    assert spoof.subscribe("smartproduct/#") == [135]


def _behaviour_totals(backend, device, done, timeout=TIMEOUT):
    """Sums `device`'s entries over the behaviour reports the backend receives until done(totals)
    holds, then one more interval (nothing may be added late). Returns (totals, reports)."""
    totals, reports = {}, []
    deadline = time.time() + timeout
    settle_until = None
    while True:
        now = time.time()
        if settle_until is not None and now >= settle_until:
            return totals, reports
        if now >= deadline:
            raise AssertionError(f"behaviour of {device} incomplete: {totals}")
        wait_until = settle_until if settle_until is not None else deadline
        m = backend.wait_message(lambda m: m.topic == BEHAVIOUR, timeout=max(0.01, wait_until - now))
        if m is not None:
            assert not m.retain
            r = json.loads(m.payload)
            reports.append(r)
            for d in r["devices"]:
                if d["id"] != device:
                    continue
                for k, v in d.items():
                    if k == "addresses":
                        totals.setdefault(k, set()).update(v)
                    elif k == "maxMessageBytes":
                        totals[k] = max(totals.get(k, 0), v)
                    elif k != "id":
                        totals[k] = totals.get(k, 0) + v
        if settle_until is None and done(totals):
            settle_until = time.time() + 3 * BEHAVIOUR_MS / 1000


def test_behaviour_report_counts_messages_bytes_and_failures(broker, backend, clients):
    assert backend.subscribe(BEHAVIOUR) == [1]
    started = backend.wait_event(lambda t, e, r: t == PRESENCE + "_broker")
    sn4 = clients("SN4")
    assert sn4.connect() == 0
    assert sn4.subscribe("smartproduct/commands/SN4") == [1]
    assert sn4.subscribe("smartproduct/commands/+") == [135]  # an authorization failure
    sizes = [5 + 37 * i for i in range(20)]
    for i, n in enumerate(sizes):
        topic = "smartproduct/telemetry/SN4" if i % 2 else "$aws/things/SN4/shadow/update"
        assert sn4.publish(topic, "x" * n) in OK
    for i in range(2):
        assert backend.publish("smartproduct/commands/SN4", json.dumps({"commandId": i})) == 0
        assert sn4.wait_message(lambda m: m.topic == "smartproduct/commands/SN4") is not None
    sn4.close()

    totals, reports = _behaviour_totals(
        backend, "SN4", lambda t: t.get("messagesSent") == len(sizes) and t.get("disconnects") == 1
        and t.get("messagesReceived") == 2)
    assert totals["messagesSent"] == len(sizes)
    assert totals["bytesSent"] == sum(sizes)
    assert totals["maxMessageBytes"] == max(sizes)
    assert totals["messagesReceived"] == 2
    assert totals["authorizationFailures"] == 1
    assert totals["quarantineRefusals"] == 0
    assert totals["connectionAttempts"] == 1
    assert totals["disconnects"] == 1
    assert totals["addresses"] == {"127.0.0.1"}
    for r in reports:
        assert r["epoch"] == started["epoch"]
        assert 0 <= r["part"] < r["parts"]
        assert r["toMs"] > r["fromMs"]
        assert all(d["id"] != "svc-backend" for d in r["devices"])  # never service users
    seqs = [r["seq"] for r in reports]
    assert seqs == sorted(seqs)


def test_quarantine_refuses_publishes_but_the_shadow_and_survives_restart(broker, backend, clients):
    sn5 = clients("SN5")
    assert sn5.connect() == 0
    assert sn5.publish("smartproduct/telemetry/SN5") in OK
    resp = backend.control({"command": "quarantine", "username": "SN5"})
    assert resp == [{"command": "quarantine", "id": resp[0]["id"]}]
    assert "SN5" in json.loads(broker.state_file.read_text())["quarantinedUsernames"]
    assert backend.subscribe(BEHAVIOUR) == [1]

    # MQTT v5: PUBACK 0x87 (not authorized); the shadow and command responses still work.
    for _ in range(5):
        assert sn5.publish("smartproduct/telemetry/SN5") == 0x87
    assert sn5.publish("smartproduct/event/SN5") == 0x87
    assert sn5.publish("$aws/things/SN5/shadow/update", '{"state":{"reported":{"a":1}}}') in OK
    assert sn5.publish("smartproduct/commands/SN5/response", "{}") in OK
    assert sn5.subscribe("smartproduct/commands/SN5") == [1]  # subscriptions unchanged
    assert sn5.disconnects.empty()  # no kick

    totals, _ = _behaviour_totals(backend, "SN5", lambda t: t.get("quarantineRefusals") == 6)
    assert totals["quarantineRefusals"] == 6
    assert totals.get("authorizationFailures", 0) == 0
    log = broker.log()
    assert "quarantined device 'SN5'" in log
    assert log.count("quarantined device 'SN5'") <= 2  # not one line per refusal
    sn5.close()
    backend.close()

    # The quarantine is in the state file: it holds after a broker restart.
    broker.stop()
    time.sleep(1.1)
    broker.start()
    b2 = Backend(broker).start()
    try:
        again = clients("SN5")
        assert again.connect() == 0
        assert again.publish("smartproduct/telemetry/SN5") == 0x87
        assert again.publish("$aws/things/SN5/shadow/get") in OK
        resp = b2.control({"command": "release", "username": "SN5"})
        assert "error" not in resp[0]
        assert json.loads(broker.state_file.read_text())["quarantinedUsernames"] == []
        assert again.publish("smartproduct/telemetry/SN5") in OK
    finally:
        b2.close()


def test_malformed_state_file_refuses_to_start(broker):
    # Runs last: it restarts the shared broker.
    good = broker.state_file.read_text() if broker.state_file.exists() else None
    broker.stop()
    broker.state_file.write_text('{"revokedFingerprints": [')
    with pytest.raises(RuntimeError, match="refusing to start"):
        broker.start()
    broker.stop()
    if good is None:
        broker.state_file.unlink()
    else:
        broker.state_file.write_text(good)
    broker.start()
