"""Issue 16 item 3: `smartproductctl status` and `smartproductctl doctor` against a real instance
(daemon, managed mosquitto with the plugin, HTTPS with the instance's own CA): status exits 0 while
all is well and names what is wrong otherwise (2 daemon down, 4 a certificate expiring within 14
days); doctor reports who holds the ports, fails on a readable private key naming the file, warns
about a certificate close to expiry."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from devices import issue_cert, tls_args
from harness import BIN, Instance, free_port, kill_pid, wait_for


def ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "smartproductctl"), *args], capture_output=True, text=True,
                          timeout=60)


def status_json(inst: Instance) -> tuple[int, dict]:
    out = ctl("status", "--json", "--dir", str(inst.dir))
    return out.returncode, json.loads(out.stdout)


def doctor_json(inst: Instance) -> tuple[int, list[dict]]:
    out = ctl("doctor", "--json", "--dir", str(inst.dir))
    doc = json.loads(out.stdout)
    assert doc["exitCode"] == out.returncode
    return out.returncode, doc["checks"]


def lines(checks: list[dict], check: str, status: str) -> list[str]:
    return [c["message"] for c in checks if c["check"] == check and c["status"] == status]


def test_status_and_doctor_while_running(instance):
    # One device online, so "connected" is seen changing from the daemon's live count.
    crt, key = issue_cert(instance, "SD-0001")
    sub = subprocess.Popen(["mosquitto_sub", "-V", "mqttv5", "-i", "SD-0001", "-q", "1",
                            "-t", "smartproduct/commands/SD-0001"] + tls_args(instance, crt, key),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rc, doc = wait_for(lambda: (lambda r: r if r[1]["devices"]["connected"] == 1 else None)(
            status_json(instance)), 20, "status to count the connected device")
        assert rc == 0, doc
        assert doc["daemon"]["running"] and doc["daemon"]["ready"] and doc["daemon"]["reasons"] == []
        assert doc["broker"]["connected"] is True and doc["broker"]["connects"] >= 1
        assert doc["devices"] == {"registered": 0, "connected": 1, "connectedSource": "daemon"}
        main = next(d for d in doc["databases"] if d["name"] == "smartproduct.db")
        assert main["bytes"] > 0 and "smartproduct.db-wal" in main["files"]
        names = [c["name"] for c in doc["certificates"]]
        assert names == ["platform root", "https", "broker", "service", "device CA test"]
        assert all(c["status"] == "ok" and c["daysLeft"] > 14 for c in doc["certificates"])
        assert doc["problems"] == [] and doc["exitCode"] == 0
    finally:
        kill_pid(sub.pid)

    # Human-readable, with --config before the subcommand (the one discovery rule).
    out = ctl("--config", str(instance.config), "status")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "running, ready" in out.stdout and "status        ok" in out.stdout

    rc, checks = doctor_json(instance)
    assert rc == 0, checks
    assert not lines(checks, "config", "fail")
    assert any(f"HTTPS port {instance.http_port} in use by the daemon" in m
               for m in lines(checks, "ports", "ok")), checks
    assert any(f"MQTT port {instance.mqtt_port} in use by the managed broker: mosquitto" in m
               for m in lines(checks, "ports", "ok")), checks
    assert any("within" in m for m in lines(checks, "clock", "ok")), checks
    assert lines(checks, "keys", "ok") and lines(checks, "disk", "ok"), checks


def test_daemon_stopped(instance):
    instance.stop()
    wait_for(lambda: instance.broker_pid() is None, 20, "the managed broker to stop with the daemon")

    out = ctl("status", "--dir", str(instance.dir))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "daemon        DOWN" in out.stdout
    rc, doc = status_json(instance)
    assert rc == 2 and doc["daemon"]["running"] is False and doc["broker"]["connected"] is None
    # What the daemon recorded is still read from its database.
    assert doc["devices"]["registered"] == 0 and doc["devices"]["connectedSource"] == "database"

    rc, checks = doctor_json(instance)
    assert rc == 0, checks
    free = lines(checks, "ports", "ok")
    assert f"HTTPS port {instance.http_port} free (the daemon is stopped)" in free, checks
    assert f"MQTT port {instance.mqtt_port} free (the daemon is stopped)" in free, checks
    assert any(m.startswith("skipped") for m in lines(checks, "clock", "ok")), checks

    # Something else on the HTTPS port: the daemon could not start; doctor names the holder.
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", instance.http_port))
        holder.listen()
        rc, checks = doctor_json(instance)
        assert rc == 1, checks
        held = lines(checks, "ports", "fail")
        me = Path("/proc/self/comm").read_text().strip()
        assert held == [f"HTTPS port {instance.http_port} is held by {me} (pid {os.getpid()}), "
                        "which is not an answering smartproductd"], checks
        out = ctl("status", "--dir", str(instance.dir))
        assert out.returncode == 2, out.stdout


def test_readable_key_fails_doctor(stopped_instance):
    key = stopped_instance.dir / "pki" / "svc-backend.key"
    out = ctl("doctor", "--dir", str(stopped_instance.dir))
    assert out.returncode == 0, out.stdout

    key.chmod(0o644)
    out = ctl("doctor", "--dir", str(stopped_instance.dir))
    assert out.returncode == 1, out.stdout
    failing = [l for l in out.stdout.splitlines() if l.startswith("fail")]
    assert len(failing) == 1 and str(key) in failing[0] and "0644" in failing[0], out.stdout
    assert f"fix: chmod 600 {key}" in out.stdout


def test_certificate_close_to_expiry(instance):
    out = ctl("ca", "create", "--name", "soon", "--days", "5", "--dir", str(instance.dir))
    assert out.returncode == 0, out.stderr

    rc, doc = status_json(instance)
    assert rc == 4, doc
    soon = next(c for c in doc["certificates"] if c["name"] == "device CA soon")
    days = soon["daysLeft"]
    assert soon["status"] == "warn" and days in (4, 5), soon  # whole days left of 5
    assert doc["problems"] == [f"certificate: device CA soon expires in {days} day(s) (" +
                               soon["notAfter"][:10] + ")"]
    out = ctl("status", "--dir", str(instance.dir))
    assert out.returncode == 4 and "problem       certificate: device CA soon expires" in out.stdout

    rc, checks = doctor_json(instance)
    assert rc == 0, checks  # a warning, not a failure
    warned = lines(checks, "certificates", "warn")
    # Whole days left: status may have run in the certificate's first second (5 days), doctor in
    # a later one (4).
    assert len(warned) == 1 and any(warned[0].startswith(f"device CA soon expires in {d} day(s)")
                                    for d in (days, days - 1)), checks


def test_not_ready_names_the_reason(stopped_instance):
    # An external broker that is not there: the daemon runs, but is not ready.
    stopped_instance.configure({"broker": {"mode": "external", "port": free_port()}})
    stopped_instance.start(wait_ready=False)
    wait_for(lambda: stopped_instance.status("/healthz") == 200 or stopped_instance._died(), 30,
             "smartproductd /healthz")
    rc, doc = status_json(stopped_instance)
    assert rc == 3, doc
    assert doc["daemon"]["running"] and not doc["daemon"]["ready"]
    assert any(r.startswith("broker: ") for r in doc["daemon"]["reasons"]), doc
    assert doc["broker"]["connected"] is False and "Connection refused" in doc["broker"]["detail"]
    assert doc["problems"][0].startswith("not ready: broker: ")
