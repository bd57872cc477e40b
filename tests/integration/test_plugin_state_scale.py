"""Issue 10 finding 11: the broker plugin's whole state at the issue's size. 1,000,000 registered
devices (each with an ACTIVE certificate) and 100,000 REVOKED certificates are written straight
into SQLite, then the daemon starts and syncs the plugin in chunks (`stateChunk` generations, each
below the broker's max_packet_size). On the old main the single `setState` message was refused by
libmosquitto ("Packet larger than supported by the server") and the plugin silently kept an empty
state: the registered device below had no rights and the revoked one connected.

Sizes can be lowered for a quick run: SP_SCALE_DEVICES, SP_SCALE_REVOKED."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import time

import pytest

from devices import issue_cert, publish
from harness import Instance, wait_for

N_DEVICES = int(os.environ.get("SP_SCALE_DEVICES", "1000000"))
N_REVOKED = int(os.environ.get("SP_SCALE_REVOKED", "100000"))
REGISTERED = f"SC-{N_DEVICES // 2:07d}"  # one of the bulk registrations, with a real certificate
REVOKED = "SC-REVOKED"                   # registered too, but its real certificate is revoked
UNREGISTERED = "SC-UNREG"                # in the catalog, never registered


def fingerprint(cert) -> str:
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().split("=", 1)[1].replace(":", "").upper()


def fake_fingerprint(tag: str, n: int) -> str:
    return hashlib.sha256(f"{tag}-{n}".encode()).hexdigest().upper()


def metric_value(inst: Instance, name: str) -> float | None:
    status, _, body = inst.request("GET", "/metrics")
    if status != 200:
        return None
    for line in (body.decode() if isinstance(body, bytes) else body).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def fill_store(inst: Instance, revoked_fp: str) -> None:
    conn = sqlite3.connect(inst.dir / "data" / "smartproduct.db", timeout=30)
    try:
        ca_id = conn.execute("SELECT id FROM certificate_authorities WHERE name = 'test'").fetchone()[0]
        issuer = conn.execute("SELECT subject FROM certificate_authorities WHERE id = ?",
                              (ca_id,)).fetchone()[0]
        now = int(time.time() * 1000)
        with conn:
            conn.executemany(
                "INSERT INTO registrations (device_id, user_id, device_name, model_number, status,"
                " created_at, updated_at, activated_at) VALUES (?, 'scale-user', ?, '25HNB9',"
                " 'complete', ?, ?, ?)",
                ((f"SC-{n:07d}", f"device {n}", now, now, now) for n in range(N_DEVICES)))
            conn.executemany(
                "INSERT INTO registrations (device_id, user_id, device_name, model_number, status,"
                " created_at, updated_at) VALUES (?, 'scale-user', ?, '25HNB9', 'complete', ?, ?)",
                [(REVOKED, "revoked", now, now)])
            cert_row = ("INSERT INTO device_certificates (fingerprint, device_id, ca_id, issuer, serial,"
                        " status, first_seen_at, last_seen_at, updated_at) VALUES (?, ?, ?, ?, '01', ?,"
                        " ?, ?, ?)")
            conn.executemany(cert_row, ((fake_fingerprint("active", n), f"SC-{n:07d}", ca_id, issuer,
                                         "ACTIVE", now, now, now) for n in range(N_DEVICES)))
            conn.executemany(cert_row, ((fake_fingerprint("revoked", n), f"SC-{n:07d}", ca_id, issuer,
                                         "REVOKED", now, now, now) for n in range(N_REVOKED - 1)))
            conn.execute(cert_row, (revoked_fp, REVOKED, ca_id, issuer, "REVOKED", now, now, now))
            conn.executemany(
                "INSERT INTO catalog (device_id, model_number, created_at, updated_at)"
                " VALUES (?, '25HNB9', ?, ?)",
                [(s, now, now) for s in (REGISTERED, REVOKED, UNREGISTERED)])
    finally:
        conn.close()


@pytest.fixture(scope="module")
def inst():
    i = Instance(jitr=True)
    try:
        i.start()  # creates and migrates the database
        i.stop()
        yield i
    finally:
        i.cleanup()


def test_state_at_one_million_devices_reaches_the_plugin(inst):
    certs = {s: issue_cert(inst, s) for s in (REGISTERED, REVOKED, UNREGISTERED)}
    t = time.monotonic()
    fill_store(inst, fingerprint(certs[REVOKED][0]))
    print(f"\nstore filled: {N_DEVICES} registered devices with ACTIVE certificates, {N_REVOKED} "
          f"REVOKED certificates in {time.monotonic() - t:.1f} s")

    t = time.monotonic()
    inst.start(timeout=300)
    wait_for(lambda: (metric_value(inst, "smartproduct_broker_state_syncs_total") or 0) >= 1, 600,
             "the plugin applied the state")
    wall = time.monotonic() - t
    sync_s = metric_value(inst, "smartproduct_broker_state_sync_seconds")
    entries = metric_value(inst, "smartproduct_broker_state_entries")
    chunks = metric_value(inst, "smartproduct_broker_state_chunks_total")
    print(f"state sync: {entries:.0f} entries in {chunks:.0f} chunks, applied {sync_s:.2f} s after "
          f"the store read; daemon start to applied {wall:.1f} s")
    assert entries >= 2 * N_DEVICES + N_REVOKED + 1  # + SC-REVOKED's registration (+ CAs)
    assert metric_value(inst, "smartproduct_broker_state_sync_ok") == 1
    assert metric_value(inst, "smartproduct_broker_state_sync_failures_total") == 0
    assert inst.status("/readyz") == 200
    assert "Packet larger than supported" not in inst.log()
    broker_log = (inst.dir / "broker" / "mosquitto.log").read_text(errors="replace")
    assert "discarded" not in broker_log  # no generation was given up

    # A registered device of the bulk has its rights from its first packet (pre-authorized by the
    # synced registeredUsernames + autoActivateCas) ...
    ok = publish(inst, REGISTERED, f"smartproduct/telemetry/{REGISTERED}",
                 json.dumps({"actualTemperature": 70, "timestamp": int(time.time() * 1000)}),
                 cert=certs[REGISTERED])
    assert ok.connack == 0 and ok.pubacks == [0], ok
    # ... a revoked certificate among the 100,000 is refused at CONNECT ...
    bad = publish(inst, REVOKED, f"smartproduct/telemetry/{REVOKED}", "{}", cert=certs[REVOKED])
    assert bad.refused, bad
    # ... and an unregistered serial connects but has no rights.
    none = publish(inst, UNREGISTERED, f"smartproduct/telemetry/{UNREGISTERED}", "{}",
                   cert=certs[UNREGISTERED])
    assert none.connack == 0 and none.pubacks == [135], none
