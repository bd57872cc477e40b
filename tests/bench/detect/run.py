#!/usr/bin/env python3
"""Detection benchmark (issue 15 item 5): what behaviour detection costs durable ingest, measured
in one run against ingest without it.

N devices with real certificates publish QoS 1 telemetry (~90-byte JSON) as fast as PUBACKs come
back, into the daemon's durable ingest through the spool ([ingest] source = "spool"), alternately:

  off: the broker plugin does not count (plugin_opt_behaviour_interval_ms 0) and the daemon ignores
       behaviour reports ([detect] enabled = false);
  on:  the plugin counts every message and publishes a report of every active device on
       $SYS/smartproduct/behaviour every --interval-ms (default 1000), the daemon's detection
       worker judges each device's sample against one security profile for every device with a
       static messages-sent ceiling (never reached), a bytes-sent p99 statistical rule and an
       authorization-failures rule.

Rounds alternate off/on, on/off, ... (ABBA), the daemon and its broker restarted for every run, the
same instance, devices and message count. Per run: rows committed per second (polling telemetry.db
read-only, first row -> last row, as tests/bench/ingest), daemon and broker CPU per message
(utime+stime from /proc), and from the daemon's /metrics the detection worker's time, reports and
samples. Prints every run, the medians per mode, the ratios on/off, the daemon's and the broker's
extra CPU per message, and the worker's time per message and per sample. Targets (issue 15):
detection costs the daemon <= 2 µs per message; ingest with detection on >= 0.9x without it.

Python 3 standard library only. Every process started here is stopped by pid; the temp dir is
removed (unless --keep).

Usage: ./dev.sh bench detect [--quick] [--devices N] [--messages TOTAL] [--rounds R] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Instance setup, publisher, process bookkeeping and /proc helpers are the ingest benchmark's.
_spec = importlib.util.spec_from_file_location("ingest_bench", ROOT / "tests/bench/ingest/run.py")
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)
Processes, wait_for, tcp_open = ingest.Processes, ingest.wait_for, ingest.tcp_open
cpu_seconds, thread_cpu, status_kb, machine = (ingest.cpu_seconds, ingest.thread_cpu,
                                               ingest.status_kb, ingest.machine)

ADMIN_EMAIL = "detect-bench-admin@example.com"
PASSWORD = "bench password 123"

# One profile for every device (model null). The static rules never fire on this load (no
# authorization failures; 1e12 messages); the statistical rule keeps learning (20 windows of 5 s
# before it compares), so the run measures judging, not raising violations.
PROFILES = [{"name": "bench-all", "model": None, "rules": [
    {"name": "messages-ceiling", "metric": "messages-sent", "comparison": "greater-than",
     "value": 1e12, "durationSeconds": 300, "action": "notify"},
    {"name": "bytes-p99", "metric": "bytes-sent", "statistic": "p99", "durationSeconds": 5,
     "minSamples": 20, "action": "notify"},
    {"name": "authz-failures", "metric": "authorization-failures", "comparison": "greater-than",
     "value": 100, "durationSeconds": 60, "action": "notify"},
]}]

DETECT_METRICS = ("smartproduct_detect_reports_total", "smartproduct_detect_reports_dropped_total",
                  "smartproduct_detect_reports_invalid_total", "smartproduct_detect_samples_total",
                  "smartproduct_detect_violations_raised_total",
                  "smartproduct_detect_worker_seconds_total")


class Bench(ingest.Bench):
    def __init__(self, opts: argparse.Namespace, tmp: Path, procs: Processes) -> None:
        super().__init__(opts, tmp, procs)
        self.config = self.inst / "smartproduct.toml"
        self.runs = 0

    # --- configuration ------------------------------------------------------------------------
    def set_detection(self, on: bool) -> None:
        """The broker plugin's counting (behaviour_interval_ms) and the daemon's [detect]."""
        conf = self.inst / "broker" / "mosquitto.conf"
        text, n = re.subn(r"(?m)^plugin_opt_behaviour_interval_ms .*$",
                          f"plugin_opt_behaviour_interval_ms {self.o.interval_ms if on else 0}",
                          conf.read_text())
        if n != 1:
            raise RuntimeError(f"{conf} has {n} plugin_opt_behaviour_interval_ms lines (want 1)")
        conf.write_text(text)
        lines = self.config.read_text().splitlines()
        enabled = f"enabled = {'true' if on else 'false'}"
        if "[detect]" not in (l.strip() for l in lines):
            lines += ["", "[detect]", enabled]
        else:
            start = next(i for i, l in enumerate(lines) if l.strip() == "[detect]") + 1
            end = next((i for i in range(start, len(lines)) if lines[i].lstrip().startswith("[")),
                       len(lines))
            same = [i for i in range(start, end) if lines[i].split("=")[0].strip() == "enabled"]
            if same:
                lines[same[0]] = enabled
            else:
                lines.insert(start, enabled)
        self.config.write_text("\n".join(lines) + "\n")

    # --- HTTPS --------------------------------------------------------------------------------
    def https(self) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        return http.client.HTTPSConnection("localhost", self.http_port, timeout=10, context=ctx)

    def call(self, method: str, path: str, body=None, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        conn = self.https()
        try:
            conn.request(method, path, json.dumps(body) if body is not None else None, headers)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:500]!r}")
        return json.loads(data) if data else {}

    def metrics(self) -> dict[str, float]:
        conn = self.https()
        try:
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            text = r.read().decode()
        finally:
            conn.close()
        if r.status != 200:
            raise RuntimeError(f"GET /metrics: {r.status}")
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            if name in DETECT_METRICS:
                out[name] = float(value)
        return out

    # --- daemon -------------------------------------------------------------------------------
    def start_daemon(self, label: str) -> tuple[subprocess.Popen, int]:
        self.runs += 1
        log = self.tmp / f"daemon-{self.runs:02d}-{label}.log"
        d = self.procs.start([str(self.bin / "smartproductd"), "--config", str(self.config)], log)
        wait_for(lambda: d.poll() is not None or self.ready(), 60, "smartproductd /readyz")
        if d.poll() is not None:
            raise RuntimeError(f"daemon exited: {log.read_text()[-3000:]}")
        broker_pid = int((self.inst / "broker" / "managed-broker.pid").read_text().strip())
        self.procs.extra_pids.append(broker_pid)
        return d, broker_pid

    def stop_daemon(self, d: subprocess.Popen, broker_pid: int) -> None:
        self.procs.stop(d)
        self.procs.stop_pid(broker_pid)
        wait_for(lambda: not tcp_open(self.mqtt_port), 15, "managed broker stopped")

    def install_profiles(self) -> None:
        """Not timed: an administrator, and the profile (stored; every later run loads it)."""
        self.set_detection(True)
        d, broker_pid = self.start_daemon("setup")
        try:
            out = subprocess.run([str(self.bin / "smartproductctl"), "user", "add", "--config",
                                  str(self.config), "--email", ADMIN_EMAIL, "--name", "Bench",
                                  "--admin", "--password-stdin"], input=PASSWORD + "\n",
                                 capture_output=True, text=True, timeout=60)
            if out.returncode != 0:
                raise RuntimeError(f"user add failed: {out.stdout}{out.stderr}")
            token = self.call("POST", "/api/auth/login",
                              {"email": ADMIN_EMAIL, "password": PASSWORD})["accessToken"]
            self.call("PUT", "/api/admin/security-profiles", {"profiles": PROFILES}, token)
            stored = self.call("GET", "/api/admin/security-profiles", token=token)["profiles"]
            if [len(p["rules"]) for p in stored] != [len(p["rules"]) for p in PROFILES]:
                raise RuntimeError(f"profiles not stored as sent: {stored}")
        finally:
            self.stop_daemon(d, broker_pid)

    def run_once(self, on: bool) -> dict:
        label = "on" if on else "off"
        self.set_detection(on)
        d, broker_pid = self.start_daemon(label)
        db_path = self.inst / "data" / "telemetry.db"
        wait_for(db_path.exists, 30, "telemetry.db")
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)

        def rows() -> int:
            return db.execute("SELECT coalesce(max(id), 0) FROM telemetry").fetchone()[0]

        base = rows()
        m0 = self.metrics()
        threads0 = thread_cpu(d.pid)
        cpu0 = cpu_seconds(d.pid)
        broker_cpu0 = cpu_seconds(broker_pid)
        t_start = time.monotonic()
        pub = self.publisher(f"publisher-{self.runs:02d}-{label}.log")
        n, t_first, t_done = ingest.wait_for_rows(rows, base, self.total, d,
                                                  t_start + self.o.timeout)
        stored = n - base
        pub_summary = self.finish_publisher(pub, timeout=120)
        # The same pause in both modes: the last interval's report is published and judged
        # before the CPU counters are read (its cost belongs to the run).
        time.sleep(self.o.settle)
        cpu = cpu_seconds(d.pid) - cpu0
        broker_cpu = cpu_seconds(broker_pid) - broker_cpu0
        threads1 = thread_cpu(d.pid)
        m1 = self.metrics()
        hwm = status_kb(d.pid, "VmHWM")
        db.close()
        self.stop_daemon(d, broker_pid)
        if stored < self.total:
            raise RuntimeError(f"only {stored} of {self.total} rows stored within {self.o.timeout}s")
        dm = {k: m1.get(k, 0.0) - m0.get(k, 0.0) for k in DETECT_METRICS}
        reports = dm["smartproduct_detect_reports_total"]
        samples = dm["smartproduct_detect_samples_total"]
        worker_s = dm["smartproduct_detect_worker_seconds_total"]
        if on and reports == 0:
            raise RuntimeError("detection on, but the daemon judged no behaviour report")
        if not on and reports != 0:
            raise RuntimeError(f"detection off, but the daemon judged {reports:.0f} reports")
        per_thread = [{"tid": tid, "name": name,
                       "cpu_us_per_msg": (sec - threads0.get(tid, (name, 0.0))[1]) * 1e6 / self.total}
                      for tid, (name, sec) in sorted(threads1.items())]
        window = t_done - (t_first or t_start)
        return {"mode": label,
                "rate": (self.total - 1) / window if window > 0 else 0.0,
                "window_s": window,
                "total_s": t_done - t_start,
                "publisher_acks_s": pub_summary["rate_msg_s"],
                "daemon_cpu_us_per_msg": cpu * 1e6 / self.total,
                "broker_cpu_us_per_msg": broker_cpu * 1e6 / self.total,
                "daemon_peak_rss_mib": hwm / 1024.0,
                "reports": reports,
                "samples": samples,
                "reports_dropped": dm["smartproduct_detect_reports_dropped_total"],
                "reports_invalid": dm["smartproduct_detect_reports_invalid_total"],
                "violations_raised": dm["smartproduct_detect_violations_raised_total"],
                "worker_s": worker_s,
                "worker_us_per_msg": worker_s * 1e6 / self.total,
                "worker_us_per_sample": worker_s * 1e6 / samples if samples else 0.0,
                "daemon_threads": [t for t in per_thread if t["cpu_us_per_msg"] >= 0.5]}


def order(rounds: int) -> list[bool]:
    """off, on, on, off, off, on, ...: each mode runs as often early as late (ABBA)."""
    out = []
    for r in range(rounds):
        out += [False, True] if r % 2 == 0 else [True, False]
    return out


def summarize(runs: list[dict]) -> dict:
    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["mode"] == mode)

    keys = ("rate", "daemon_cpu_us_per_msg", "broker_cpu_us_per_msg", "daemon_peak_rss_mib")
    off = {k: med("off", k) for k in keys}
    on = {k: med("on", k) for k in keys}
    for k in ("reports", "samples", "worker_s", "worker_us_per_msg", "worker_us_per_sample",
              "violations_raised", "reports_dropped"):
        on[k] = med("on", k)

    def ratio(k: str) -> float:
        return on[k] / off[k] if off[k] else 0.0
    # Paired differences: each "on" run against the "off" run of its round (same moment).
    pairs = [(runs[i], runs[i + 1]) for i in range(0, len(runs) - 1, 2)]
    paired = {k: statistics.median((b if b["mode"] == "on" else a)[k] -
                                   (a if a["mode"] == "off" else b)[k] for a, b in pairs)
              for k in ("daemon_cpu_us_per_msg", "broker_cpu_us_per_msg")}
    return {"off": off, "on": on,
            "ratios": {"rate": ratio("rate"), "daemon_cpu": ratio("daemon_cpu_us_per_msg"),
                       "broker_cpu": ratio("broker_cpu_us_per_msg")},
            "extra_us_per_msg": {"daemon": on["daemon_cpu_us_per_msg"] - off["daemon_cpu_us_per_msg"],
                                 "broker": on["broker_cpu_us_per_msg"] - off["broker_cpu_us_per_msg"]},
            "paired_extra_us_per_msg": {"daemon": paired["daemon_cpu_us_per_msg"],
                                        "broker": paired["broker_cpu_us_per_msg"]}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=100, help="simulated devices (default 100)")
    ap.add_argument("--messages", type=int, default=200_000, help="total messages per run")
    ap.add_argument("--rounds", type=int, default=None,
                    help="pairs of runs, off/on then on/off alternately (default 4; --quick 2)")
    ap.add_argument("--quick", action="store_true", help="50k messages per run, 2 rounds")
    ap.add_argument("--interval-ms", type=int, default=1000,
                    help="plugin_opt_behaviour_interval_ms with detection on (default 1000)")
    ap.add_argument("--settle", type=float, default=None,
                    help="seconds after the last row before CPU is read, both modes "
                         "(default interval + 0.5 s)")
    ap.add_argument("--inflight", type=int, default=100, help="max in-flight per device")
    ap.add_argument("--prefix", default="BENCH-", help="device serial prefix")
    ap.add_argument("--bin", default=os.environ.get("SP_BIN_DIR", str(ROOT / "build" / "bin")),
                    help="directory with smartproductd, smartproductctl, smartproduct-sim")
    ap.add_argument("--timeout", type=float, default=300, help="max seconds per run")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    opts = ap.parse_args()
    if opts.quick:
        opts.messages = 50_000
    if opts.rounds is None:
        opts.rounds = 2 if opts.quick else 4
    if opts.rounds < 1:
        print("--rounds must be at least 1", file=sys.stderr)
        return 2
    if opts.settle is None:
        opts.settle = opts.interval_ms / 1000.0 + 0.5
    if not 100 <= opts.interval_ms <= 3_600_000:
        print("--interval-ms must be 100..3600000 (the plugin's range)", file=sys.stderr)
        return 2
    for exe in ("smartproductd", "smartproductctl", "smartproduct-sim", "mosquitto_smartproduct.so"):
        if not (Path(opts.bin) / exe).exists():
            print(f"missing {Path(opts.bin) / exe} (build first, or pass --bin)", file=sys.stderr)
            return 2

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    tmp = Path(tempfile.mkdtemp(prefix="sp-bench-detect-"))
    tmp.chmod(0o755)  # the broker runs as `mosquitto` and must reach the instance
    procs = Processes()
    runs: list[dict] = []
    started = time.monotonic()
    load_start = os.getloadavg()
    try:
        bench = Bench(opts, tmp, procs)
        print(f"detect benchmark: {opts.devices} devices x {bench.per_device} QoS 1 messages "
              f"= {bench.total} per run, inflight {opts.inflight}, {opts.rounds} rounds, "
              f"reports every {opts.interval_ms} ms when on", file=sys.stderr)
        bench.setup()
        bench.set_source("spool")
        bench.install_profiles()
        for on in order(opts.rounds):
            print(f"run {len(runs) + 1}: detection {'on' if on else 'off'} ...", file=sys.stderr)
            runs.append(bench.run_once(on))
            r = runs[-1]
            print(f"  {r['rate']:.0f} msg/s, daemon {r['daemon_cpu_us_per_msg']:.1f} µs/msg, "
                  f"broker {r['broker_cpu_us_per_msg']:.1f} µs/msg, {r['reports']:.0f} reports / "
                  f"{r['samples']:.0f} samples", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - report, clean up, fail
        print(f"benchmark failed: {e}\n(logs in {tmp}, kept)", file=sys.stderr)
        opts.keep = True
        return 1
    finally:
        procs.stop_all()
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)

    s = summarize(runs)
    result = {"machine": machine(), "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
              "devices": opts.devices, "messages": bench.total,
              "inflight": opts.inflight, "interval_ms": opts.interval_ms, "profiles": PROFILES,
              "elapsed_s": time.monotonic() - started, "runs": runs, **s}
    if opts.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["machine"]
    print(f"machine:  {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}; load average "
          f"{result['loadavg_start'][0]:.2f} at start, {result['loadavg_end'][0]:.2f} at the end")
    print(f"load:     {opts.devices} devices, {bench.total} QoS 1 messages (~90 B JSON) per run, "
          f"inflight {opts.inflight}/device, durable ingest through the spool; detection on = "
          f"reports every {opts.interval_ms} ms, 1 profile x {len(PROFILES[0]['rules'])} rules for "
          f"every device")
    print("runs (order as run):")
    for i, r in enumerate(runs, 1):
        extra = (f"; {r['reports']:.0f} reports, {r['samples']:.0f} samples, worker "
                 f"{r['worker_s'] * 1e3:.1f} ms = {r['worker_us_per_msg']:.3f} µs/msg, "
                 f"{r['worker_us_per_sample']:.1f} µs/sample, violations {r['violations_raised']:.0f}"
                 if r["mode"] == "on" else "")
        print(f"  {i}. {r['mode']:>3}: {r['rate']:>7.0f} msg/s (all stored {r['total_s']:.2f} s "
              f"after start; publisher {r['publisher_acks_s']:.0f} acks/s), daemon "
              f"{r['daemon_cpu_us_per_msg']:.1f} µs/msg, broker {r['broker_cpu_us_per_msg']:.1f} "
              f"µs/msg, peak RSS {r['daemon_peak_rss_mib']:.0f} MiB{extra}")
    off, on, ra = s["off"], s["on"], s["ratios"]
    print("medians (min..max of the mode's runs):")
    for name, x in (("off", off), ("on", on)):
        def span(k: str, f: str) -> str:
            v = [r[k] for r in runs if r["mode"] == name]
            return f"{min(v):{f}}..{max(v):{f}}"
        print(f"  {name:>3}: {x['rate']:>7.0f} msg/s ({span('rate', '.0f')}), daemon "
              f"{x['daemon_cpu_us_per_msg']:.2f} µs/msg ({span('daemon_cpu_us_per_msg', '.1f')}), "
              f"broker {x['broker_cpu_us_per_msg']:.2f} µs/msg "
              f"({span('broker_cpu_us_per_msg', '.2f')})")
    print(f"ratios on/off: rate {ra['rate']:.3f} (target >= 0.90), daemon CPU "
          f"{ra['daemon_cpu']:.3f}, broker CPU {ra['broker_cpu']:.3f}")
    ex, px = s["extra_us_per_msg"], s["paired_extra_us_per_msg"]
    print(f"extra CPU per message with detection: daemon {ex['daemon']:+.2f} µs (target <= 2; "
          f"median of paired runs {px['daemon']:+.2f}), broker {ex['broker']:+.2f} µs (paired "
          f"{px['broker']:+.2f})")
    print(f"detection worker (/metrics, median of 'on' runs): {on['worker_us_per_msg']:.3f} µs/msg, "
          f"{on['worker_us_per_sample']:.1f} µs/sample ({on['reports']:.0f} reports, "
          f"{on['samples']:.0f} samples = {on['samples'] / max(on['reports'], 1):.0f} devices/report; "
          f"dropped {on['reports_dropped']:.0f}, violations {on['violations_raised']:.0f})")
    for r in (next(r for r in reversed(runs) if r["mode"] == "off"),
              next(r for r in reversed(runs) if r["mode"] == "on")):
        print(f"daemon threads, last {r['mode']} run (tid order, µs CPU/msg): " + ", ".join(
            f"{t['tid']} {t['name']} {t['cpu_us_per_msg']:.1f}" for t in r["daemon_threads"]))
    print(f"elapsed: {result['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
