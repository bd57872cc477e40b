#!/usr/bin/env python3
"""REST benchmark: wrk over TLS keep-alive against a real smartproductd, four routes in one run:

  /healthz             the cheapest answer (no auth, no store)
  static               a small file of the console (the baseline the others are compared with)
  GET /api/auth/me     an authenticated request that reads the caller's account
  GET /api/devices     an authenticated list of the caller's 10 registered devices

A fresh development instance (tests/integration/harness.py: `smartproductctl init`, a managed CA,
the daemon with its managed broker) gets a user with 10 devices registered against the catalog;
and a web root of its own holds a 1 KiB file; then wrk runs each route (default 64 connections, 2 threads, 10 s, after a 2 s warm-up) with the
user's Bearer token added by auth.lua. Prints req/s, p50, p99, non-2xx answers and the ratio to the
static file for each route, plus the daemon's CPU per request and the machine. The figures depend
on whatever else runs on the machine: compare runs made back to back.

Usage: ./dev.sh bench rest [--duration S] [--connections C] [--threads T] [--devices N] [--json]
       [--keep] [--bin DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent

EMAIL = "bench@example.com"
ADMIN_EMAIL = "bench-admin@example.com"
PASSWORD = "bench password 123"
MODEL = "25HNB9"


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out: str) -> dict:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if not (rate and p50 and p99 and total):
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return {"rps": float(rate.group(1)), "p50_ms": parse_ms(p50.group(1)),
            "p99_ms": parse_ms(p99.group(1)), "requests": int(total.group(1)),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else ""}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("SP_BIN_DIR") or str(ROOT / "build" / "bin"))
    ap.add_argument("--duration", type=int, default=10, help="seconds per route (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per route")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="also print one JSON line of results")
    ap.add_argument("--keep", action="store_true", help="keep the instance dir")
    o = ap.parse_args()

    if not shutil.which("wrk"):
        print("wrk is not installed (Debian package `wrk`, listed in .ci/apt-packages.txt)",
              file=sys.stderr)
        return 2
    os.environ["SP_BIN_DIR"] = o.bin
    if o.keep:
        os.environ["SP_KEEP_TEST_DIRS"] = "1"
    harness = load("harness", ROOT / "tests/integration/harness.py")
    ingest = load("ingest_bench", ROOT / "tests/bench/ingest/run.py")

    inst = harness.Instance()
    try:
        # The static baseline: a 1 KiB file in a web root of our own, so the figure does not
        # depend on whether the console was built.
        web = inst.dir / "bench-web"
        web.mkdir()
        (web / "index.html").write_text("<!doctype html><title>bench</title>\n")
        (web / "small.txt").write_text(("smartproduct static baseline " * 40)[:1024])
        cfg = inst.config.read_text()
        assert 'web_root = ""' in cfg, "the generated config has no empty web_root to replace"
        inst.config.write_text(cfg.replace('web_root = ""', f'web_root = "{web}"', 1))
        inst.start()
        print(f"daemon pid {inst.proc.pid}, instance {inst.dir}", flush=True)
        ctl = Path(o.bin) / "smartproductctl"

        def add_user(email: str, admin: bool) -> str:
            args = [str(ctl), "user", "add", "--config", str(inst.config), "--email", email,
                    "--name", "Bench", "--password-stdin"] + (["--admin"] if admin else [])
            out = subprocess.run(args, input=PASSWORD + "\n", capture_output=True, text=True,
                                 timeout=60)
            assert out.returncode == 0, out.stderr
            status, _, body = inst.request("POST", "/api/auth/login",
                                           {"email": email, "password": PASSWORD})
            assert status == 200, body
            return body["accessToken"]

        admin = add_user(ADMIN_EMAIL, admin=True)
        token = add_user(EMAIL, admin=False)
        for i in range(o.devices):
            serial = f"BENCH-{i:05d}"
            status, _, body = inst.request("POST", "/api/admin/catalog",
                                           {"deviceId": serial, "modelNumber": MODEL,
                                            "details": {"n": i}}, token=admin)
            assert status == 201, body
            status, _, body = inst.request("POST", "/api/registration",
                                           {"deviceId": serial, "deviceName": f"room-{i}",
                                            "modelNumber": MODEL}, token=token)
            assert status in (200, 201), body
        status, _, devices = inst.request("GET", "/api/devices", token=token)
        assert status == 200 and len(devices) == o.devices, devices

        static_path = "/small.txt"
        status, _, body = inst.request("GET", static_path)
        assert status == 200, body
        static_size = len(body)

        routes = [("healthz", "/healthz"), ("static", static_path),
                  ("auth/me", "/api/auth/me"), ("devices", "/api/devices")]
        base = f"https://localhost:{inst.http_port}"
        env = dict(os.environ, SP_TOKEN=token)
        results = {}
        for name, path in routes:
            print(f"running {name} ({path})", flush=True)
            cmd = ["wrk", "-t", str(o.threads), "-c", str(o.connections), "--latency",
                   "-s", str(HERE / "auth.lua")]
            if o.warmup > 0:
                subprocess.run(cmd + ["-d", f"{o.warmup}s", base + path], env=env,
                               capture_output=True, text=True, timeout=o.warmup + 60)
            cpu0 = cpu_seconds(inst.proc.pid)
            out = subprocess.run(cmd + ["-d", f"{o.duration}s", base + path], env=env,
                                 capture_output=True, text=True, timeout=o.duration + 60)
            cpu1 = cpu_seconds(inst.proc.pid)
            if out.returncode != 0:
                raise RuntimeError(f"wrk failed: {out.stderr}")
            r = parse_wrk(out.stdout)
            r["path"] = path
            r["daemon_cpu_us_per_req"] = (cpu1 - cpu0) / max(1, r["requests"]) * 1e6
            results[name] = r

        static_rps = results["static"]["rps"]
        info = ingest.machine()
        print(f"REST bench: wrk over TLS keep-alive, {o.connections} connections, {o.threads} "
              f"threads, {o.duration} s per route; {o.devices} devices; static file "
              f"{static_path} ({static_size} bytes)")
        print(f"machine: {info['nproc']} CPUs, {info['cpu']}")
        print(f"{'route':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x static':>9} "
              f"{'cpu us/req':>10} {'non-2xx':>8}")
        for name, r in results.items():
            r["ratio_to_static"] = r["rps"] / static_rps if static_rps else 0.0
            print(f"{name:<10} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                  f"{r['ratio_to_static']:>9.2f} {r['daemon_cpu_us_per_req']:>10.0f} "
                  f"{r['non_2xx']:>8}" + (f"  {r['socket_errors']}" if r["socket_errors"] else ""))
        d = results["devices"]
        print(f"target: devices >= 0.5x static and p99 < 5 ms: "
              f"{d['ratio_to_static']:.2f}x, p99 {d['p99_ms']:.2f} ms -> "
              f"{'met' if d['ratio_to_static'] >= 0.5 and d['p99_ms'] < 5 else 'not met'}")
        if o.json:
            print(json.dumps({"results": results, "machine": info, "connections": o.connections,
                              "threads": o.threads, "duration_s": o.duration}))
        return 0
    finally:
        inst.cleanup()
        if o.keep:
            print(f"kept {inst.dir}")


if __name__ == "__main__":
    sys.exit(main())
