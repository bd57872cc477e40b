"""Real device clients for tests: certificates from `smartproductctl device-cert issue --ca`, and the
mosquitto command-line clients (mosquitto_pub/mosquitto_sub over mutual TLS), whose -d output shows
the broker's reason codes (CONNACK/PUBACK/SUBACK)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

from harness import BIN, Instance


def issue_cert(inst: Instance, serial: str, ca: str = "test", out: str = "devices") -> tuple[Path, Path]:
    """SERIAL.crt (device certificate + CA certificate) and SERIAL.key in inst.dir/<out>, issued by
    the instance's managed CA `ca`."""
    out_dir = inst.dir / out
    out = subprocess.run([str(BIN / "smartproductctl"), "device-cert", "issue", "--dir", str(inst.dir),
                          "--ca", ca, "--serial", serial, "--out", str(out_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out_dir / f"{serial}.crt", out_dir / f"{serial}.key"


def tls_args(inst: Instance, cert: Path, key: Path) -> list[str]:
    return ["-h", "127.0.0.1", "-p", str(inst.mqtt_port), "--cafile", str(inst.ca),
            "--cert", str(cert), "--key", str(key)]


def backend_args(inst: Instance) -> list[str]:
    return tls_args(inst, inst.dir / "pki" / "svc-backend.crt", inst.dir / "pki" / "svc-backend.key")


class PubResult:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.pubacks_raw = [int(x) for x in re.findall(r"received PUBACK \(Mid: \d+, RC:(\d+)\)", self.output)]
        # 0x10 "no matching subscribers" is a success code: with the ingest spool (issue 11) nobody
        # subscribes to the telemetry/event topics, so mosquitto acknowledges them with it.
        self.pubacks = [0 if rc == 0x10 else rc for rc in self.pubacks_raw]
        connack = re.findall(r"received CONNACK \((\d+)\)", self.output)
        self.connack = int(connack[-1]) if connack else None
        # v5 "not authorized" is 135, MQTT 3.1.1 "not authorised" is 5.
        self.refused = self.connack in (5, 135)
        # No CONNACK at all: the connection ended before MQTT (the plugin's refusals are CONNACK
        # 135/5). Whether the TLS handshake failed the client cannot always say (with TLS 1.3 it
        # sees the alert only as a protocol error): see broker_tls_refusals().
        self.tls_failed = self.connack is None and self.rc != 0

    def __repr__(self):
        return f"PubResult(rc={self.rc}, pubacks={self.pubacks}, output={self.output!r})"


def broker_tls_refusals(inst: Instance) -> int:
    """Handshakes the broker refused because the client certificate did not verify (its log)."""
    try:
        text = (inst.dir / "broker" / "mosquitto.log").read_text(errors="replace")
    except OSError:
        return 0
    return text.count("certificate verify failed")


def publish(inst: Instance, serial: str, topic: str, payload: str | bytes, *, client_id: str | None = None,
            cert: tuple[Path, Path] | None = None, qos: int = 1, file: Path | None = None,
            timeout: float = 30) -> PubResult:
    crt, key = cert or (inst.dir / "devices" / f"{serial}.crt", inst.dir / "devices" / f"{serial}.key")
    args = ["mosquitto_pub", "-V", "mqttv5", "-d", "-q", str(qos), "-i", client_id or serial,
            "-t", topic] + tls_args(inst, crt, key)
    if file is not None:
        args += ["-f", str(file)]
    else:
        args += ["-m", payload if isinstance(payload, str) else payload.decode()]
    return PubResult(subprocess.run(args, capture_output=True, text=True, timeout=timeout))


def control(inst: Instance, commands: list[dict], timeout: float = 10) -> dict:
    """Sends a $CONTROL/smartproduct/v1 request as svc-backend and returns the plugin's answer."""
    args = ["mosquitto_rr", "-V", "mqttv5", "-q", "1", "-i", "sp-test-control", "-W", str(int(timeout)),
            "-t", "$CONTROL/smartproduct/v1", "-e", "$CONTROL/smartproduct/v1/response",
            "-m", json.dumps({"commands": commands})] + backend_args(inst)
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 5)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def db(inst: Instance, name: str = "smartproduct.db") -> sqlite3.Connection:
    return sqlite3.connect(f"file:{inst.dir / 'data' / name}?mode=ro", uri=True, timeout=10)


def count(inst: Instance, sql: str, *params, name: str = "smartproduct.db") -> int:
    with db(inst, name) as conn:
        return conn.execute(sql, params).fetchone()[0]


def metric(inst: Instance, name: str, **labels) -> float:
    status, _, body = inst.request("GET", "/metrics")
    assert status == 200
    text = body.decode() if isinstance(body, bytes) else body
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == name or key == f"{name}{{{want}}}":
            return float(value)
    raise AssertionError(f"metric {name}{{{want}}} not found in:\n{text}")
