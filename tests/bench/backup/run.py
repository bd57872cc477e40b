#!/usr/bin/env python3
"""Backup/restore benchmark: an instance with N telemetry rows (default 1,000,000, written straight
into telemetry.db with the daemon stopped, payloads like the simulator's), then

  (a) baseline: copying both database files with `cp` (what a careless operator would do; not
      consistent while the daemon runs, but the floor for moving the bytes);
  (b) `smartproductctl backup` (VACUUM INTO each database, SHA-256 of every file, tar + gzip);
  (c) `smartproductctl restore` into a new directory (extract, verify checksums, integrity_check).

Prints sizes and times, and (b)/(a). The temp dir is removed unless --keep.

Usage: python3 tests/bench/backup/run.py [--rows N] [--bin build/bin] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("ingest_bench", ROOT / "tests/bench/ingest/run.py")
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)
free_port, machine = ingest.free_port, ingest.machine


def timed(args: list[str]) -> float:
    start = time.monotonic()
    out = subprocess.run(args, capture_output=True, text=True)
    took = time.monotonic() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stdout}{out.stderr}")
    return took


def create_instance(bin_dir: Path, tmp: Path) -> Path:
    inst = tmp / "instance"
    subprocess.run([str(bin_dir / "smartproductctl"), "init", "--dir", str(inst), "--hostname",
                    "localhost", "--http-port", str(free_port()), "--mqtt-port", str(free_port())],
                   check=True, capture_output=True)
    # One start creates and migrates both databases (and the signing keys); then stop it.
    log = open(tmp / "daemon.log", "wb")
    daemon = subprocess.Popen([str(bin_dir / "smartproductd"), "--config",
                               str(inst / "smartproduct.toml")], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not ((inst / "data" / "telemetry.db").exists() and (inst / "data" / "keys").exists()):
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"daemon did not start: {(tmp / 'daemon.log').read_text()}")
        time.sleep(0.2)
    time.sleep(1)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    return inst


def fill(db: Path, rows: int) -> None:
    rng = random.Random(7)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    now = int(time.time() * 1000)
    batch = []
    for i in range(rows):
        serial = f"SN-{i % 1000:05d}"
        payload = json.dumps({"deviceId": serial, "timestamp": now + i,
                              "actualTemperature": round(60 + rng.random() * 30, 2),
                              "targetTemperature": 72, "powerStatus": "HEAT"})
        batch.append((serial, now + i, now + i, payload, f"bench-{i}"))
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO telemetry (device_id, device_ts, received_at, payload, "
                             "dedup_key) VALUES (?, ?, ?, ?, ?)", batch)
            conn.commit()
            batch.clear()
    if batch:
        conn.executemany("INSERT INTO telemetry (device_id, device_ts, received_at, payload, "
                         "dedup_key) VALUES (?, ?, ?, ?, ?)", batch)
        conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true")
    o = ap.parse_args()
    bin_dir = Path(o.bin)
    tmp = Path(tempfile.mkdtemp(prefix="sp-bench-backup-"))
    tmp.chmod(0o755)
    try:
        inst = create_instance(bin_dir, tmp)
        t0 = time.monotonic()
        fill(inst / "data" / "telemetry.db", o.rows)
        fill_s = time.monotonic() - t0
        db_bytes = sum(f.stat().st_size for f in (inst / "data").glob("*.db"))

        copy_dir = tmp / "copy"
        copy_dir.mkdir()
        cp_s = timed(["cp", str(inst / "data" / "smartproduct.db"), str(inst / "data" / "telemetry.db"),
                      str(copy_dir)])
        archive = tmp / "backup.tar.gz"
        backup_s = timed([str(bin_dir / "smartproductctl"), "backup", "--dir", str(inst), "--out",
                          str(archive)])
        restore_s = timed([str(bin_dir / "smartproductctl"), "restore", str(archive), "--dir",
                           str(tmp / "restored")])
        restored = sqlite3.connect(tmp / "restored" / "data" / "telemetry.db")
        restored_rows = restored.execute("SELECT count(*) FROM telemetry").fetchone()[0]
        restored.close()
        if restored_rows != o.rows:
            raise SystemExit(f"restored {restored_rows} rows, expected {o.rows}")
        result = {
            "rows": o.rows, "database_bytes": db_bytes, "archive_bytes": archive.stat().st_size,
            "fill_s": round(fill_s, 2), "cp_s": round(cp_s, 3), "backup_s": round(backup_s, 2),
            "restore_s": round(restore_s, 2), "backup_vs_cp": round(backup_s / cp_s, 1),
            "machine": machine(),
        }
        if o.json:
            print(json.dumps(result))
        else:
            mib = 1 << 20
            print(f"{o.rows:,} telemetry rows: databases {db_bytes / mib:.1f} MiB, "
                  f"archive {result['archive_bytes'] / mib:.1f} MiB")
            print(f"  (a) cp of the database files   {cp_s:8.2f} s")
            print(f"  (b) smartproductctl backup     {backup_s:8.2f} s   ({result['backup_vs_cp']}x (a))")
            print(f"  (c) smartproductctl restore    {restore_s:8.2f} s   ({restored_rows:,} rows back)")
            print(f"  machine: {result['machine']}")
    finally:
        if o.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
