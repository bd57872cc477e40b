"""Issue 14 item 3 end to end: the disk guard and retention with a real daemon, broker and device.

A tiny [telemetry] max_disk_bytes: telemetry is refused (not acknowledged by the daemon, kept in its
telemetry connection's session at the broker), /readyz says why, the intake gauge is 1; events from
the same device are still stored. After the limit is lifted (restart), every telemetry message the
device sent is stored exactly once. Retention: back-dated rows are pruned by the pruning pass."""

from __future__ import annotations

import json
import sqlite3
import time
import tomllib
from pathlib import Path

from harness import Instance, wait_for
from test_telemetry import TelemetryDevice
from test_accounts import Api, ctl, login

ADMIN = "retention-admin@example.com"
ADMIN_PASSWORD = "retention admin password 1"

SERIAL = "SN-R000"
DAY_MS = 86_400_000


class Device(TelemetryDevice):
    """The telemetry test's device, which also sends events."""

    def event(self, payload: dict) -> None:
        info = self.client.publish(f"smartproduct/event/{self.serial}", json.dumps(payload), qos=1)
        info.wait_for_publish(10)
        assert info.rc == 0


def data_dir(inst: Instance):
    cfg = tomllib.loads(inst.config.read_text())
    d = Path(cfg["storage"]["data_dir"])
    return d if d.is_absolute() else inst.config.parent / d


def query(inst: Instance, db: str, sql: str, *args):
    conn = sqlite3.connect(f"file:{data_dir(inst) / db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def readyz(inst: Instance):
    status, _, body = inst.request("GET", "/readyz")
    return status, body


def metric(inst: Instance, name: str) -> float | None:
    status, _, body = inst.request("GET", "/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def start_paused(inst: Instance):
    inst.start(wait_ready=False)
    wait_for(lambda: inst._died() or (readyz(inst)[0] == 503 and any(
        "telemetry intake paused" in r for r in readyz(inst)[1].get("reasons", []))
        and not any(r.startswith("broker") for r in readyz(inst)[1]["reasons"])), 60,
        "readyz: only the telemetry intake reason")


def test_full_disk_refuses_telemetry_only_and_loses_nothing():
    inst = Instance(settings={"telemetry": {"max_disk_bytes": 4096, "disk_check_interval_ms": 200}})
    try:
        out = ctl(inst, "user", "add", "--config", str(inst.config), "--email", ADMIN,
                  "--password-stdin", "--admin", stdin=ADMIN_PASSWORD + "\n")
        assert out.returncode == 0, out.stderr
        start_paused(inst)
        api = Api(inst)
        admin = login(api, ADMIN, ADMIN_PASSWORD)[0]["accessToken"]

        def system_events():
            status, _, body = api("GET", "/api/events", token=admin)
            assert status == 200
            return [e for e in body["Items"] if e["deviceId"] == "$system"]

        # The admin alert: a system event of type error, listed among the admin's alerts.
        wait_for(lambda: any("Telemetry intake paused" in e.get("message", "")
                             for e in system_events()), 20, "the admin's system event")
        status, _, alerts = api("GET", "/api/alerts", token=admin)
        assert status == 200 and any(a.get("deviceId") == "$system" for a in alerts["Items"]), alerts
        status, body = readyz(inst)
        reasons = body["reasons"]
        assert len(reasons) == 1 and "max_disk_bytes" in reasons[0], reasons
        assert metric(inst, "smartproduct_telemetry_intake_paused") == 1.0
        assert metric(inst, "smartproduct_telemetry_db_used_bytes") > 4096

        dev = Device(inst, SERIAL)
        now = int(time.time() * 1000)
        sent = []
        for i in range(40):
            m = {"actualTemperature": 60 + i, "timestamp": now - 40_000 + i * 1000, "seq": i}
            dev.publish(m)
            sent.append(m)
        for i in range(3):
            dev.event({"messageId": f"ev-{i}", "type": "info", "message": f"hello {i}",
                                  "details": {}, "timestamp": now + i})
        # Events keep flowing on the main connection.
        wait_for(lambda: query(inst, "smartproduct.db",
                               "SELECT count(*) FROM events WHERE device_id = ?", SERIAL)[0][0] == 3,
                 20, "3 events stored while telemetry is refused")
        time.sleep(1.0)
        assert query(inst, "telemetry.db", "SELECT count(*) FROM telemetry")[0][0] == 0
        assert readyz(inst)[0] == 503
        dev.close()

        # Lift the limit: what the device sent is delivered from the broker's session.
        assert inst.stop() == 0
        inst.configure({"telemetry": {"max_disk_bytes": 0}})
        inst.start()
        assert metric(inst, "smartproduct_telemetry_intake_paused") == 0.0
        wait_for(lambda: query(inst, "telemetry.db",
                               "SELECT count(*) FROM telemetry WHERE device_id = ?",
                               SERIAL)[0][0] >= 40, 30, "the 40 refused samples stored")
        time.sleep(1.0)
        rows = query(inst, "telemetry.db",
                     "SELECT payload FROM telemetry WHERE device_id = ? ORDER BY t", SERIAL)
        seqs = [json.loads(p)["seq"] for (p,) in rows]
        assert seqs == list(range(40)), seqs  # each exactly once
        assert query(inst, "smartproduct.db",
                     "SELECT count(*) FROM events WHERE device_id = ?", SERIAL)[0][0] == 3
    finally:
        inst.cleanup()


def test_retention_prunes_back_dated_rows_continuously():
    inst = Instance(settings={"telemetry": {"raw_retention_days": 30, "rollup_1m_retention_days": 90,
                                            "retention_interval_ms": 300, "retention_batch_rows": 7}})
    try:
        inst.start()
        dev = Device(inst, "SN-R001")
        now = int(time.time() * 1000)
        # Back-dated samples (the device's clock says when they were measured) and fresh ones.
        for age_days, n in ((45, 10), (100, 10), (1, 5)):
            for i in range(n):
                dev.publish({"actualTemperature": 50 + i, "seq": age_days * 100 + i,
                                          "timestamp": now - age_days * DAY_MS + i * 60_000})
        dev.close()

        def counts():
            raw_old = query(inst, "telemetry.db", "SELECT count(*) FROM telemetry WHERE t < ?",
                            now - 30 * DAY_MS)[0][0]
            raw_new = query(inst, "telemetry.db", "SELECT count(*) FROM telemetry WHERE t >= ?",
                            now - 30 * DAY_MS)[0][0]
            m_old = query(inst, "telemetry.db",
                          "SELECT count(*) FROM telemetry_rollup_1m WHERE bucket < ?",
                          now - 90 * DAY_MS)[0][0]
            m_kept = query(inst, "telemetry.db",
                           "SELECT count(DISTINCT bucket) FROM telemetry_rollup_1m WHERE bucket < ?",
                           now - 30 * DAY_MS)[0][0]
            h_old = query(inst, "telemetry.db",
                          "SELECT count(*) FROM telemetry_rollup_1h WHERE bucket < ?",
                          now - 90 * DAY_MS)[0][0]
            return raw_old, raw_new, m_old, m_kept, h_old

        wait_for(lambda: counts()[:3] == (0, 5, 0), 30, "old raw rows and 1m rollups pruned")
        raw_old, raw_new, m_old, m_kept, h_old = counts()
        assert m_kept == 10, "1-minute rollups of the 45-day-old samples are kept (90 days)"
        assert h_old > 0, "1-hour rollups are kept for 730 days"
        assert metric(inst, 'smartproduct_telemetry_pruned_rows_total{table="raw"}') == 20.0
    finally:
        inst.cleanup()
