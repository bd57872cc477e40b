#!/usr/bin/env python3
"""Security audit benchmark: an instance with N devices (default 100,000), each with an ACTIVE
certificate (validity spread over 400 days, so some are expiring), a presence row (half connected)
and one connect in the presence history of the last day, written straight into smartproduct.db
with the daemon stopped; plus 10 registered CAs. Then

  (a) baseline: `sqlite3` counting the same rows (SELECT count(*) over device_certificates,
      device_presence, certificate_authorities and the day's presence_history);
  (b) `smartproductctl audit run --quiet`: snapshot + all checks + findings stored in one
      transaction (the same work as a daemon run, in its own process so it can be measured).

Prints wall time and peak RSS (from /usr/bin/time -v) of both, and (b)/(a). A second audit run is
measured too: it updates the findings of the first instead of inserting them.

Usage: /usr/bin/python3 tests/bench/audit/run.py [--devices N] [--bin build/bin] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("backup_bench", ROOT / "tests/bench/backup/run.py")
backup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(backup)


def measured(args: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and stdout of `args`."""
    start = time.monotonic()
    out = subprocess.run(["/usr/bin/time", "-v"] + args, capture_output=True, text=True)
    took = time.monotonic() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stdout}{out.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    return took, rss, out.stdout


def populate(db: Path, devices: int) -> None:
    now_ms = int(time.time() * 1000)
    now_s = now_ms // 1000
    rnd = random.Random(42)
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO certificate_authorities (id, name, subject, issuer, serial, fingerprint, "
            "not_before, not_after, certificate_pem, status, auto_registration, managed, created_at, "
            "updated_at) VALUES (?, ?, 's', 'i', '1', ?, 0, ?, '', 'ACTIVE', 1, 0, 1, 1)",
            [(f"BENCHCA{n:02d}", f"bench-{n}", f"FPCA{n:02d}", now_s + 3650 * 86400)
             for n in range(10)])
        certs, presence, history = [], [], []
        for n in range(devices):
            serial = f"BENCH-{n:06d}"
            fp = f"{n:064X}"
            certs.append((fp, serial, f"BENCHCA{n % 10:02d}", str(n),
                          now_s + rnd.randint(-5, 400) * 86400, now_ms))
            connected = n % 2
            presence.append((serial, connected, now_ms, now_ms, "10.0.0.1", 1, n + 1, fp))
            history.append((serial, serial, fp, str(n), f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
                            n + 1, now_ms - rnd.randint(0, 86_000_000)))
        conn.executemany(
            "INSERT INTO device_certificates (fingerprint, device_id, ca_id, issuer, serial, "
            "not_after, status, first_seen_at, last_seen_at, updated_at) "
            "VALUES (?, ?, ?, 'i', ?, ?, 'ACTIVE', ?6, ?6, ?6)", certs)
        conn.executemany(
            "INSERT INTO device_presence (device_id, connected, since, last_seen, address, "
            "broker_epoch, conn_seq, cert_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", presence)
        conn.executemany(
            "INSERT INTO presence_history (device_id, event, client_id, cert_fingerprint, issuer, "
            "serial, address, protocol_version, broker_epoch, conn_seq, at, reason) "
            "VALUES (?, 'connected', ?, ?, 'i', ?, ?, 5, 1, ?, ?, '')", history)
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--bin", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    bin_dir = Path(a.bin or os.environ.get("SP_BIN_DIR") or ROOT / "build" / "bin")
    tmp = Path(tempfile.mkdtemp(prefix="sp-bench-audit-"))
    try:
        inst = backup.create_instance(bin_dir, tmp)
        db = inst / "data" / "smartproduct.db"
        t0 = time.monotonic()
        populate(db, a.devices)
        populate_s = time.monotonic() - t0
        since = int(time.time() * 1000) - 86_400_000
        base_s, base_rss, _ = measured([
            "sqlite3", str(db),
            "SELECT count(*) FROM device_certificates WHERE status IN ('ACTIVE','REVOKED'); "
            "SELECT count(*) FROM device_presence; SELECT count(*) FROM certificate_authorities; "
            f"SELECT count(*) FROM presence_history WHERE at >= {since};"])
        ctl = [str(bin_dir / "smartproductctl"), "audit", "run", "--quiet", "--config",
               str(inst / "smartproduct.toml")]
        first_s, first_rss, out = measured(ctl)
        second_s, second_rss, _ = measured(ctl)
        counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+_CHECK)\s+(\d+)$", out, re.M)}
        result = {
            "machine": backup.machine(),
            "devices": a.devices, "populate_s": round(populate_s, 2),
            "baseline_count_s": round(base_s, 3), "baseline_rss_kib": base_rss,
            "audit_first_s": round(first_s, 3), "audit_first_rss_kib": first_rss,
            "audit_second_s": round(second_s, 3), "audit_second_rss_kib": second_rss,
            "ratio_first_vs_baseline": round(first_s / base_s, 1),
            "ratio_second_vs_baseline": round(second_s / base_s, 1),
            "findings": counts,
        }
        if a.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"{a.devices} devices and certificates (rows written in {populate_s:.1f} s)")
            print(f"(a) baseline sqlite3 count(*) scans : {base_s:8.3f} s  peak RSS {base_rss / 1024:7.1f} MiB")
            print(f"(b) audit run (first, inserts)       : {first_s:8.3f} s  peak RSS {first_rss / 1024:7.1f} MiB"
                  f"  ratio {first_s / base_s:.1f}x")
            print(f"(b) audit run (second, updates)      : {second_s:8.3f} s  peak RSS {second_rss / 1024:7.1f} MiB"
                  f"  ratio {second_s / base_s:.1f}x")
            print("findings per check:", {k: v for k, v in counts.items() if v})
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
