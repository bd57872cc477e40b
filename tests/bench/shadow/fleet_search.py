#!/usr/bin/env python3
"""Fleet search benchmark: query latency on a fleet of 100,000 devices through the real HTTPS API.

A fresh development instance (tests/integration/harness.py) gets an admin and a user. The fleet is
seeded directly into data/smartproduct.db while the daemon runs (one SQLite transaction, the
daemon's own tables: registrations with catalog-style details, shadows, device_presence); the
triggers of migration 0008 build the fleet index as they would for shadow updates over MQTT.
1 device in 10 belongs to the user, the rest to other accounts; 1 in 5 is connected.

Then, over one keep-alive HTTPS connection each, every query runs `--repeat` times after a warm-up:
the baseline is the plain listing `GET /api/devices?limit=20` (no search) measured in the same run;
each search prints p50/p99 (ms), the number of matching devices (GET /api/devices/aggregate), and
the ratio of its p50 to the baseline's. For comparison it also times, directly in SQLite (no HTTP),
an unindexed equivalent of two shadow queries (json_extract over every shadow), which is what a
search without the fleet index would have to do. Numbers depend on whatever else runs on the
machine: compare runs made back to back. It never passes or fails.

Usage: /usr/bin/python3 tests/bench/shadow/fleet_search.py [--devices N] [--repeat R] [--json]
       [--keep] [--bin DIR]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "bench password 123"

QUERIES = [
    # (name, scope, query) — scope "admin" sees the whole fleet, "user" its 10 %.
    ("thingName prefix", "admin", "thingName:FS-0500*"),
    ("thingName exact", "admin", "thingName:FS-012345"),
    ("powerStatus:HEAT (1/3)", "admin", "shadow.reported.powerStatus:HEAT"),
    ("temperature>108 (2 %)", "admin", "shadow.reported.actualTemperature>108"),
    ("range AND attribute", "admin",
     "shadow.reported.actualTemperature:[80 TO 81] AND attributes.color:red"),
    ("connected AND AC", "admin", "connectivity.connected:true AND shadow.reported.powerStatus:AC"),
    ("OR of two rare", "admin",
     "shadow.reported.actualTemperature:109 OR deviceName:Hall-79"),
    ("NOT + deviceName", "admin",
     "deviceName:Kitchen AND NOT shadow.reported.powerStatus:HEAT"),
    ("no match", "admin", "shadow.reported.powerStatus:BROKEN"),
    ("user: HEAT", "user", "shadow.reported.powerStatus:HEAT"),
    ("user: temp range", "user", "shadow.reported.actualTemperature:[100 TO *]"),
]
AGGREGATES = [
    ("count HEAT", "admin", {"q": "shadow.reported.powerStatus:HEAT", "type": "count"}),
    ("stats temp | connected", "admin", {"q": "connectivity.connected:true", "type": "stats",
                                         "field": "shadow.reported.actualTemperature"}),
    ("cardinality powerStatus", "admin", {"type": "cardinality",
                                          "field": "shadow.reported.powerStatus"}),
]
UNINDEXED = [
    ("powerStatus:HEAT page", "SELECT r.device_id FROM registrations r JOIN shadows s ON "
     "s.device_id = r.device_id WHERE r.status != 'deleted' AND "
     "json_extract(s.state, '$.reported.powerStatus') = 'HEAT' ORDER BY r.device_id LIMIT 21"),
    ("temperature>108 page", "SELECT r.device_id FROM registrations r JOIN shadows s ON "
     "s.device_id = r.device_id WHERE r.status != 'deleted' AND "
     "json_extract(s.state, '$.reported.actualTemperature') > 108 ORDER BY r.device_id LIMIT 21"),
]


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed(db_path: Path, n: int, user_id: str) -> float:
    """Registrations, shadows and presence for n devices in one transaction; returns seconds."""
    t0 = time.monotonic()
    db = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    db.execute("PRAGMA busy_timeout = 60000")
    db.execute("BEGIN IMMEDIATE")
    now = int(time.time() * 1000)
    regs, shadows, presence = [], [], []
    for i in range(n):
        serial = f"FS-{i:06d}"
        owner = user_id if i % 10 == 0 else f"other-{i % 97}"
        name = ("Kitchen", "Bedroom", "Office")[i % 4] if i % 4 < 3 else f"Hall-{i}"
        details = json.dumps({"color": ("red", "blue", "green")[i % 3], "fw": i % 7})
        regs.append((serial, owner, name, "25HNB9", details, now, now))
        state = {"reported": {"powerStatus": ("HEAT", "AC", "OFF")[i % 3],
                              "actualTemperature": 50 + (i * 7) % 60,
                              "targetTemperature": 60 + i % 30},
                 "desired": {"targetTemperature": 60 + i % 30}}
        shadows.append((serial, json.dumps(state), now // 1000))
        presence.append((serial, 1 if i % 5 == 0 else 0, now, now))
    db.executemany("INSERT INTO registrations (device_id, user_id, device_name, model_number, "
                   "details, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'complete', ?, ?)",
                   regs)
    db.executemany("INSERT INTO shadows (device_id, state, metadata, version, updated_at) "
                   "VALUES (?, ?, '{}', 1, ?)", shadows)
    db.executemany("INSERT INTO device_presence (device_id, connected, since, last_seen, address, "
                   "broker_epoch, conn_seq, cert_fingerprint) VALUES (?, ?, ?, ?, '', 1, 1, '')",
                   presence)
    db.execute("COMMIT")
    db.execute("PRAGMA optimize")
    db.close()
    return time.monotonic() - t0


class Client:
    """One keep-alive HTTPS connection with a token."""

    def __init__(self, inst, token: str):
        self.conn = inst.connection(timeout=60)
        self.token = token

    def get(self, path: str):
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        resp = self.conn.getresponse()
        raw = resp.read()
        elapsed = (time.perf_counter() - t0) * 1000
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: {resp.status} {raw[:300]!r}")
        return elapsed, json.loads(raw)


def time_path(client: Client, path: str, repeat: int, warmup: int) -> dict:
    for _ in range(warmup):
        client.get(path)
    samples, body = [], None
    for _ in range(repeat):
        ms, body = client.get(path)
        samples.append(ms)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))]
    return {"p50_ms": statistics.median(samples), "p99_ms": p99, "body": body}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("SP_BIN_DIR") or str(ROOT / "build" / "bin"))
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=50, help="timed requests per query")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="also print one JSON line of results")
    ap.add_argument("--keep", action="store_true", help="keep the instance dir")
    o = ap.parse_args()
    os.environ["SP_BIN_DIR"] = o.bin
    if o.keep:
        os.environ["SP_KEEP_TEST_DIRS"] = "1"
    harness = load("harness", ROOT / "tests/integration/harness.py")
    ingest = load("ingest_bench", ROOT / "tests/bench/ingest/run.py")

    inst = harness.Instance()
    try:
        inst.start()
        ctl = Path(o.bin) / "smartproductctl"

        def add_user(email: str, admin: bool):
            args = [str(ctl), "user", "add", "--config", str(inst.config), "--email", email,
                    "--name", "Bench", "--password-stdin"] + (["--admin"] if admin else [])
            out = subprocess.run(args, input=PASSWORD + "\n", capture_output=True, text=True,
                                 timeout=60)
            assert out.returncode == 0, out.stderr
            status, _, body = inst.request("POST", "/api/auth/login",
                                           {"email": email, "password": PASSWORD})
            assert status == 200, body
            token = body["accessToken"]
            status, _, me = inst.request("GET", "/api/auth/me", token=token)
            assert status == 200, me
            return token, me.get("userId") or me.get("id")

        admin, _ = add_user("fs-admin@example.com", True)
        user, user_id = add_user("fs-user@example.com", False)
        db_path = inst.dir / "data" / "smartproduct.db"
        seconds = seed(db_path, o.devices, user_id)
        rows = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True).execute(
            "SELECT count(*) FROM fleet_index").fetchone()[0]
        print(f"seeded {o.devices} devices in {seconds:.1f} s ({rows} fleet index rows); "
              f"daemon pid {inst.proc.pid}, instance {inst.dir}", flush=True)

        clients = {"admin": Client(inst, admin), "user": Client(inst, user)}
        base = time_path(clients["admin"], "/api/devices?limit=20", o.repeat, o.warmup)
        results = {"baseline: GET /api/devices?limit=20": {k: v for k, v in base.items()
                                                          if k != "body"}}
        rows_out = []
        for name, scope, q in QUERIES:
            r = time_path(clients[scope], "/api/devices?limit=20&q=" + quote(q, safe=""),
                          o.repeat, o.warmup)
            _, agg = clients[scope].get("/api/devices/aggregate?q=" + quote(q, safe=""))
            r["matches"] = agg["count"]
            r["page"] = len(r.pop("body")["Items"])
            r["query"] = q
            results[name] = r
            rows_out.append((name, scope, r))
        for name, scope, params in AGGREGATES:
            path = "/api/devices/aggregate?" + "&".join(f"{k}={quote(v, safe='')}"
                                                        for k, v in params.items())
            r = time_path(clients[scope], path, o.repeat, o.warmup)
            r["result"] = r.pop("body")
            results["aggregate " + name] = r
            rows_out.append(("aggregate " + name, scope, r))

        ro = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        unindexed = {}
        for name, sql in UNINDEXED:
            samples = []
            for _ in range(5):
                t0 = time.perf_counter()
                ro.execute(sql).fetchall()
                samples.append((time.perf_counter() - t0) * 1000)
            unindexed[name] = statistics.median(samples)

        info = ingest.machine()
        print(f"fleet search bench: {o.devices} devices, {o.repeat} requests per query over one "
              f"keep-alive HTTPS connection (after {o.warmup} warm-up)")
        print(f"machine: {info['nproc']} CPUs, {info['cpu']}")
        print(f"{'query':<28} {'scope':<6} {'matches':>8} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'x base':>7}")
        print(f"{'baseline: plain list page':<28} {'admin':<6} {'':>8} {base['p50_ms']:>8.2f} "
              f"{base['p99_ms']:>8.2f} {1.0:>7.2f}")
        for name, scope, r in rows_out:
            ratio = r["p50_ms"] / base["p50_ms"] if base["p50_ms"] else 0.0
            r["ratio_to_baseline"] = ratio
            matches = r.get("matches", "")
            print(f"{name:<28} {scope:<6} {matches:>8} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                  f"{ratio:>7.2f}")
        for name, ms in unindexed.items():
            print(f"unindexed in SQLite (no HTTP), {name}: {ms:.1f} ms")
        if o.json:
            print(json.dumps({"devices": o.devices, "results": results, "unindexed_ms": unindexed,
                              "machine": info}))
        return 0
    finally:
        inst.cleanup()
        if o.keep:
            print(f"kept {inst.dir}")


if __name__ == "__main__":
    sys.exit(main())
