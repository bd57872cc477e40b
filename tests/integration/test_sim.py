"""smartproduct-sim run against the real daemon with JITR on: the simulator registers its serials
through the API as a user (--register-as), connects each device with a certificate from the
instance's managed CA, gets activated by JITR and publishes the seed's telemetry; a certificate
rotation of one device is activated for the same registration; the simulator applies shadow deltas
and answers commands; and one simulator process holds a fleet of 2,000 devices."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from devices import backend_args, count, db, issue_cert, publish
from harness import BIN, Instance, running_instance, wait_for
from test_accounts import Api, ctl, login

PASSWORD = "simulator password 1"
SERIALS = [f"SIM-{n:05d}" for n in range(1, 4)]


@pytest.fixture(scope="module")
def inst():
    i = Instance(jitr=True)
    try:
        catalog = i.dir / "catalog.csv"
        catalog.write_text("deviceId,modelNumber,details\n" +
                           "".join(f'{s},25HNB9,"{{""model"":""INFINITY 19""}}"\n' for s in SERIALS))
        out = ctl(i, "catalog", "import", "--config", str(i.config), str(catalog))
        assert out.returncode == 0, out.stdout + out.stderr
        out = ctl(i, "user", "add", "--config", str(i.config), "--email", "owner@example.com",
                  "--password-stdin", stdin=PASSWORD + "\n")
        assert out.returncode == 0, out.stderr
        i.start()
        yield i
    finally:
        i.cleanup()


def test_sim_registers_connects_through_jitr_and_publishes(inst):
    api = Api(inst)
    out = subprocess.run(
        [str(BIN / "smartproduct-sim"), "run", "--config", str(inst.config), "--devices",
         str(len(SERIALS)), "--prefix", "SIM-", "--ca", "test", "--interval-ms", "300",
         "--status-interval-ms", "600", "--duration-s", "6", "--print-every-s", "1",
         "--register-as", "owner@example.com", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr

    token = login(api, "owner@example.com", PASSWORD)[0]["accessToken"]
    status, _, things = api("GET", "/api/devices", token=token)
    assert status == 200
    assert sorted(t["thingName"] for t in things) == SERIALS
    assert {t["status"] for t in things} == {"complete"}
    for serial in SERIALS:
        # ~20 ticks in 6 s; the first may be refused before activation and is retried.
        n = count(inst, "SELECT count(*) FROM telemetry WHERE device_id = ?", serial,
                  name="telemetry.db")
        assert n >= 5, (serial, n, out.stdout)
        with db(inst, "telemetry.db") as conn:
            payload = json.loads(conn.execute(
                "SELECT payload FROM telemetry WHERE device_id = ? ORDER BY id DESC LIMIT 1",
                (serial,)).fetchone()[0])
        # The seed simulator's telemetry shape.
        assert {"deviceId", "actualTemperature", "targetTemperature", "timestamp", "sentAt",
                "createdAt"} <= payload.keys(), payload
        assert payload["deviceId"] == serial and payload["targetTemperature"] == 71.5


def test_certificate_rotation_is_activated_for_the_same_registration(inst):
    api = Api(inst)
    token = login(api, "owner@example.com", PASSWORD)[0]["accessToken"]
    serial = SERIALS[0]
    new_cert = issue_cert(inst, serial, out="rotated")
    r = publish(inst, serial, f"smartproduct/telemetry/{serial}", '{"rotated":true}', cert=new_cert)
    assert r.connack == 0 and r.pubacks == [0], r

    def two_active():
        status, _, body = api("GET", f"/api/devices/{serial}/certificates", token=token)
        assert status == 200
        items = body["Items"]
        return len(items) == 2 and all(c["status"] == "ACTIVE" for c in items)

    wait_for(two_active, 10, "both certificates ACTIVE")
    with db(inst) as conn:
        regs = {row[0] for row in conn.execute(
            "SELECT registration_id FROM device_certificates WHERE device_id = ?", (serial,))}
    assert len(regs) == 1


class SimProcess:
    """`smartproduct-sim run` in the background; its stdout lines are collected by a thread."""

    def __init__(self, args: list[str], preexec_fn=None):
        self.proc = subprocess.Popen([str(BIN / "smartproduct-sim"), "run"] + args,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)
        self.lines: list[str] = []
        self.errors: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True).start()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines + self.errors)

    def line_with(self, text: str) -> str | None:
        return next((l for l in self.lines if text in l), None)

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_connected(inst, *extra: str) -> SimProcess:
    """The SERIALS devices (hour-long intervals) in the background, once all are connected."""
    sim = SimProcess(["--config", str(inst.config), "--devices", str(len(SERIALS)), "--prefix",
                      "SIM-", "--ca", "test", "--interval-ms", "3600000", "--status-interval-ms",
                      "3600000", "--print-every-s", "0", *extra])
    try:
        wait_for(lambda: sim.line_with(f"all {len(SERIALS)} devices connected")
                 or sim.proc.poll() is not None, 60, "the devices to connect")
        assert sim.proc.poll() is None, sim.output()
    except BaseException:
        sim.stop()
        raise
    return sim


def test_sim_applies_deltas_reports_and_answers_commands(inst):
    """The seed's control loop against the real daemon: the owner's desired state reaches the
    device as a delta, the device adopts and reports it; a pending command gets its reply on
    .../response."""
    api = Api(inst)
    token = login(api, "owner@example.com", PASSWORD)[0]["accessToken"]
    sim = start_connected(inst)
    try:

        serial = SERIALS[0]
        status, _, body = api("PATCH", f"/api/devices/{serial}/shadow",
                              {"state": {"desired": {"powerStatus": "AC",
                                                     "targetTemperature": 65}}}, token=token)
        assert status == 200, body

        def adopted():
            status, _, doc = api("GET", f"/api/devices/{serial}/shadow", token=token)
            assert status == 200, doc
            reported = doc["state"].get("reported", {})
            return (reported.get("powerStatus") == "AC" and reported.get("targetTemperature") == 65
                    and "delta" not in doc["state"]) and doc

        wait_for(adopted, 20, "the delta applied and reported", interval=0.2)
        # The seed's info events for both changes.
        wait_for(lambda: count(inst, "SELECT count(*) FROM events WHERE device_id = ? AND "
                                     "type = 'info'", serial) >= 2,
                 10, "two info events")

        # A command as the daemon publishes it; the device answers on /response.
        target = SERIALS[1]
        sub = subprocess.Popen(
            ["mosquitto_sub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", str(inst.mqtt_port),
             *backend_args(inst), "-i", "it-reply-watcher", "-q", "1", "-C", "1", "-W", "20",
             "-t", f"smartproduct/commands/{target}/response"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.0)  # let the subscription settle
            command = {"commandId": "cmd-it-1", "deviceId": target, "status": "pending",
                       "details": {"command": "set-temp", "value": 68.5}}
            pub = subprocess.run(
                ["mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", str(inst.mqtt_port),
                 *backend_args(inst), "-i", "it-commander", "-q", "1",
                 "-t", f"smartproduct/commands/{target}", "-m", json.dumps(command)],
                capture_output=True, text=True, timeout=20)
            assert pub.returncode == 0, pub.stderr
            out, err = sub.communicate(timeout=30)
        finally:
            if sub.poll() is None:
                sub.kill()
        assert sub.returncode == 0, err
        assert json.loads(out) == {"commandId": "cmd-it-1", "deviceId": target,
                                   "status": "success", "reason": "success"}
        wait_for(lambda: api("GET", f"/api/devices/{target}/shadow", token=token)[2]["state"]
                 .get("reported", {}).get("targetTemperature") == 68.5, 20,
                 "the commanded target reported")
    finally:
        rc = sim.stop()
    assert rc == 0, sim.output()


def test_sim_legacy_replies_answer_on_the_command_topic(inst):
    """--legacy-replies: the reply goes to smartproduct/commands/<sn> itself, as the seed's devices
    did; the device neither receives (no-local) nor answers its own reply."""
    target = SERIALS[2]
    sim = start_connected(inst, "--legacy-replies")
    try:
        # Our own pending command, then the device's reply; nothing more within the wait.
        sub = subprocess.Popen(
            ["mosquitto_sub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", str(inst.mqtt_port),
             *backend_args(inst), "-i", "it-legacy-watcher", "-q", "1", "-W", "8",
             "-t", f"smartproduct/commands/{target}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.0)
            command = {"commandId": "cmd-legacy-1", "deviceId": target, "status": "pending",
                       "details": {"command": "set-mode", "value": "HEAT"}}
            pub = subprocess.run(
                ["mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", str(inst.mqtt_port),
                 *backend_args(inst), "-i", "it-legacy-commander", "-q", "1",
                 "-t", f"smartproduct/commands/{target}", "-m", json.dumps(command)],
                capture_output=True, text=True, timeout=20)
            assert pub.returncode == 0, pub.stderr
            out, _ = sub.communicate(timeout=30)
        finally:
            if sub.poll() is None:
                sub.kill()
        messages = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert messages == [command, {"commandId": "cmd-legacy-1", "deviceId": target,
                                      "status": "success", "reason": "success"}], messages
    finally:
        rc = sim.stop()
    assert rc == 0, sim.output()


FLEET = 2000


@pytest.fixture(scope="module")
def fleet_inst():
    yield from running_instance(jitr=False)


def test_sim_refuses_a_fleet_the_open_file_limit_cannot_hold(fleet_inst):
    def low_hard_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, 1000))

    out = subprocess.run(
        [str(BIN / "smartproduct-sim"), "run", "--config", str(fleet_inst.config), "--devices",
         str(FLEET), "--ca", "test", "--duration-s", "5"],
        capture_output=True, text=True, timeout=60, preexec_fn=low_hard_limit)
    assert out.returncode == 5, out.stdout + out.stderr
    assert f"{FLEET} devices need about" in out.stderr, out.stderr
    assert "hard limit (RLIMIT_NOFILE) is 1000" in out.stderr, out.stderr
    assert not (fleet_inst.dir / "sim" / "certs").exists()  # failed before issuing anything


def test_one_process_holds_a_fleet_and_its_first_telemetry_is_stored(fleet_inst):
    """2,000 devices in one simulator process, under an open-file limit that three descriptors
    per device (the old libmosquitto socketpair) would exceed: all connect, each device's first
    telemetry is stored although the interval is an hour, one descriptor per device."""
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, FLEET * 2))

    sim = SimProcess(["--config", str(fleet_inst.config), "--devices", str(FLEET), "--prefix",
                      "FLEET-", "--ca", "test", "--interval-ms", "3600000",
                      "--status-interval-ms", "3600000", "--print-every-s", "10"],
                     preexec_fn=limit)
    try:
        wait_for(lambda: sim.line_with(f"all {FLEET} devices connected")
                 or sim.proc.poll() is not None, 600, "the fleet to connect", interval=0.5)
        assert sim.proc.poll() is None, sim.output()
        fds = len(os.listdir(f"/proc/{sim.proc.pid}/fd"))
        assert fds <= FLEET + 64, fds

        def first_telemetry_stored():
            return count(fleet_inst, "SELECT count(DISTINCT device_id) FROM telemetry "
                                     "WHERE device_id LIKE 'FLEET-%'", name="telemetry.db") == FLEET

        wait_for(first_telemetry_stored, 120, "every device's first telemetry", interval=1)
        # Idle CPU of the simulator, printed for the record (timings are not asserted).
        before = cpu_seconds(sim.proc.pid)
        time.sleep(10)
        idle = (cpu_seconds(sim.proc.pid) - before) / 10 * 100
        print(f"\n{sim.line_with('devices connected')}; {fds} fds; idle CPU {idle:.1f} %")
    finally:
        rc = sim.stop()
    assert rc == 0, sim.output()[-3000:]
