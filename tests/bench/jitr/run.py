#!/usr/bin/env python3
"""JITR benchmark: N new devices (certificates from a managed CA, serials in the catalog and
registered by a user) connect at once; how long until all of them are active, against the bare
mTLS connect rate of the same broker measured in the same run.

  (b) JITR: `smartproduct-sim connect-storm --wait-active`: every device connects (all at once, or
      --inflight K at a time), gets CONNACK, then publishes a QoS 1 probe every --probe-ms until one
      gets PUBACK 0 (the daemon recorded the certificate at its first connection, activated it and
      told the broker plugin), then disconnects. Rate = N / (storm start -> last device active).
      The script also polls the daemon's smartproduct.db read-only (device_certificates ACTIVE)
      for the server's view.
  (a) bare: the same certificates, now all active, connect again with the same concurrency:
      connect -> CONNACK -> disconnect, no JITR work. Rate = N / (start -> last CONNACK).

Prints both rates, the ratio (b)/(a), latency percentiles, the CPU the daemon and the broker spent
per device, and the machine. Certificates and registrations are made up front (not timed).
Every process started here is stopped by pid; the temp dir is removed (unless --keep).

Usage: ./dev.sh bench jitr [--devices N] [--inflight K] [--probe-ms MS] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Process bookkeeping and /proc helpers are the ingest benchmark's (one copy of that code).
_spec = importlib.util.spec_from_file_location("ingest_bench", ROOT / "tests/bench/ingest/run.py")
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)
Processes, free_port, wait_for = ingest.Processes, ingest.free_port, ingest.wait_for
cpu_seconds, machine, run, last_json_line = (ingest.cpu_seconds, ingest.machine, ingest.run,
                                             ingest.last_json_line)

EMAIL = "bench@example.com"
PASSWORD = "bench-password-123"
MODEL = "25HNB9"


class Bench:
    def __init__(self, opts: argparse.Namespace, tmp: Path, procs: Processes) -> None:
        self.o = opts
        self.tmp = tmp
        self.procs = procs
        self.bin = Path(opts.bin)
        self.inst = tmp / "instance"
        self.certs = tmp / "certs"
        self.http_port = free_port()
        self.mqtt_port = free_port()
        self.ctl = str(self.bin / "smartproductctl")
        self.config = self.inst / "smartproduct.toml"
        self.ca = self.inst / "pki" / "root-ca.crt"
        self.serials = [f"{opts.prefix}{i:05d}" for i in range(1, opts.devices + 1)]

    # setup (not timed) ---------------------------------------------------------------------
    def setup(self) -> dict:
        t0 = time.monotonic()
        run([self.ctl, "init", "--dir", str(self.inst), "--http-port", str(self.http_port),
             "--mqtt-port", str(self.mqtt_port), "--hostname", "localhost", "--jitr", "on"])
        run([self.ctl, "ca", "create", "--name", "bench", "--dir", str(self.inst)])
        catalog = self.tmp / "catalog.csv"
        catalog.write_text("deviceId,modelNumber,details\n" +
                           "".join(f"{s},{MODEL},{{}}\n" for s in self.serials))
        run([self.ctl, "catalog", "import", "--config", str(self.config), str(catalog)])
        out = subprocess.run([self.ctl, "user", "add", "--config", str(self.config), "--email",
                              EMAIL, "--password-stdin"], input=PASSWORD + "\n", text=True,
                             capture_output=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"user add failed: {out.stdout}{out.stderr}")
        self.certs.mkdir()
        t_certs = time.monotonic()

        def issue(serial: str) -> None:
            run([self.ctl, "device-cert", "issue", "--dir", str(self.inst), "--ca", "bench",
                 "--serial", serial, "--out", str(self.certs)])

        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(issue, self.serials))
        return {"setup_s": time.monotonic() - t0, "issue_s": time.monotonic() - t_certs}

    def https(self) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        return http.client.HTTPSConnection("localhost", self.http_port, timeout=10, context=ctx)

    def ready(self) -> bool:
        conn = self.https()
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    def start_daemon(self) -> None:
        self.daemon = self.procs.start([str(self.bin / "smartproductd"), "--config",
                                        str(self.config)], self.tmp / "daemon.log")
        wait_for(lambda: self.daemon.poll() is not None or self.ready(), 60, "smartproductd /readyz")
        if self.daemon.poll() is not None:
            raise RuntimeError(f"daemon exited: {(self.tmp / 'daemon.log').read_text()[-3000:]}")
        self.broker_pid = int((self.inst / "broker" / "managed-broker.pid").read_text().strip())
        self.procs.extra_pids.append(self.broker_pid)
        self.db = sqlite3.connect(f"file:{self.inst / 'data' / 'smartproduct.db'}?mode=ro",
                                  uri=True, timeout=5)

    def register(self) -> float:
        """Signs in and registers every serial (POST /api/registration), like a user would."""
        t0 = time.monotonic()
        conn = self.https()
        conn.request("POST", "/api/auth/login", json.dumps({"email": EMAIL, "password": PASSWORD}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"login failed: {r.status} {body[:300]!r}")
        headers = {"Content-Type": "application/json",
                   "Authorization": "Bearer " + json.loads(body)["accessToken"]}
        for s in self.serials:
            conn.request("POST", "/api/registration", json.dumps(
                {"deviceId": s, "deviceName": s, "modelNumber": MODEL}), headers)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise RuntimeError(f"registering {s}: {r.status} {body[:300]!r}")
        conn.close()
        return time.monotonic() - t0

    def counts(self) -> tuple[int, int]:
        """(certificates recorded, certificates ACTIVE) in the daemon's store."""
        row = self.db.execute("SELECT count(*), coalesce(sum(status = 'ACTIVE'), 0) "
                              "FROM device_certificates").fetchone()
        return row[0], row[1]

    def storm(self, log_name: str, wait_active: bool) -> subprocess.Popen:
        args = [str(self.bin / "smartproduct-sim"), "connect-storm", "--config", str(self.config),
                "--host", "localhost", "--cert-dir", str(self.certs), "--count",
                str(self.o.devices), "--prefix", self.o.prefix, "--inflight", str(self.o.inflight),
                "--threads", str(self.o.threads), "--timeout-s", str(self.o.timeout), "--json",
                "--log-level", self.o.storm_log_level]
        if wait_active:
            args += ["--wait-active", "--probe-ms", str(self.o.probe_ms)]
            if self.o.probe_topic:
                args += ["--probe-topic", self.o.probe_topic]
        return self.procs.start(args, self.tmp / log_name, stdout=subprocess.PIPE)

    def wait_started(self, p: subprocess.Popen) -> None:
        """The storm prints "storm: ..." just before its first connect: the clock starts there."""
        line = p.stdout.readline().decode()
        if not line.startswith("storm:"):
            p.wait(timeout=30)
            raise RuntimeError(f"connect-storm did not start: {line!r}")

    @staticmethod
    def finish(p: subprocess.Popen, timeout: float) -> dict:
        out, _ = p.communicate(timeout=timeout)
        summary = last_json_line(out.decode())
        if p.returncode != 0:
            raise RuntimeError(f"connect-storm exited with {p.returncode}: {summary}")
        return summary

    def cpu(self) -> tuple[float, float]:
        return cpu_seconds(self.daemon.pid), cpu_seconds(self.broker_pid)

    # (b) -----------------------------------------------------------------------------------
    def jitr(self) -> dict:
        n = self.o.devices
        seen0, active0 = self.counts()
        if seen0 or active0:
            raise RuntimeError(f"store not fresh: {seen0} certificates recorded before the storm")
        d0, b0 = self.cpu()
        p = self.storm("storm-jitr.log", wait_active=True)
        self.wait_started(p)
        t0 = time.monotonic()
        t_all_seen = t_all_active = t_first_active = None
        deadline = t0 + self.o.timeout
        seen = active = 0
        while time.monotonic() < deadline:
            seen, active = self.counts()
            now = time.monotonic()
            if t_first_active is None and active > 0:
                t_first_active = now
            if t_all_seen is None and seen >= n:
                t_all_seen = now
            if active >= n:
                t_all_active = now
                break
            if p.poll() is not None and p.returncode != 0:
                break
            time.sleep(0.02)
        summary = self.finish(p, timeout=self.o.timeout + 30)
        d1, b1 = self.cpu()
        complete = self.db.execute("SELECT count(*) FROM registrations WHERE status = 'complete'"
                                   ).fetchone()[0]
        if t_all_active is None:
            raise RuntimeError(f"only {active} of {n} certificates ACTIVE in the store "
                               f"(storm: {summary})")
        return {"storm": summary,
                "rate": summary["active_rate"],
                "store_all_active_s": t_all_active - t0,
                "store_all_seen_s": (t_all_seen or t_all_active) - t0,
                "store_first_active_s": (t_first_active or t_all_active) - t0,
                "store_rate": n / (t_all_active - t0),
                "registrations_complete": complete,
                "daemon_cpu_ms_per_device": (d1 - d0) * 1e3 / n,
                "broker_cpu_ms_per_device": (b1 - b0) * 1e3 / n}

    # (a) -----------------------------------------------------------------------------------
    def bare(self) -> dict:
        n = self.o.devices
        d0, b0 = self.cpu()
        p = self.storm("storm-bare.log", wait_active=False)
        self.wait_started(p)
        summary = self.finish(p, timeout=self.o.timeout + 30)
        d1, b1 = self.cpu()
        return {"storm": summary, "rate": summary["connect_rate"],
                "daemon_cpu_ms_per_device": (d1 - d0) * 1e3 / n,
                "broker_cpu_ms_per_device": (b1 - b0) * 1e3 / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000, help="new devices (default 1000)")
    ap.add_argument("--inflight", type=int, default=0,
                    help="connections open at a time (default 0 = all at once)")
    ap.add_argument("--threads", type=int, default=0,
                    help="connect-storm worker threads (default 0 = one per CPU)")
    ap.add_argument("--probe-ms", type=int, default=200,
                    help="interval of a device's probe publish until it is active (default 200)")
    ap.add_argument("--probe-topic", default="",
                    help="probe topic with {serial} (default: the telemetry topic, so accepted "
                         "probes are stored like real telemetry)")
    ap.add_argument("--prefix", default="JITR-", help="device serial prefix")
    ap.add_argument("--bin", default=os.environ.get("SP_BIN_DIR", str(ROOT / "build" / "bin")),
                    help="directory with smartproductd, smartproductctl, smartproduct-sim")
    ap.add_argument("--timeout", type=float, default=300, help="max seconds per storm")
    ap.add_argument("--storm-log-level", default="warn",
                    help="connect-storm log level (debug: one line per activated device)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    opts = ap.parse_args()
    for exe in ("smartproductd", "smartproductctl", "smartproduct-sim", "mosquitto_smartproduct.so"):
        if not (Path(opts.bin) / exe).exists():
            print(f"missing {Path(opts.bin) / exe} (build first, or pass --bin)", file=sys.stderr)
            return 2

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    tmp = Path(tempfile.mkdtemp(prefix="sp-bench-jitr-"))
    tmp.chmod(0o755)  # the broker runs as `mosquitto` and must reach the instance
    procs = Processes()
    try:
        bench = Bench(opts, tmp, procs)
        print(f"jitr benchmark: {opts.devices} devices, "
              f"{opts.inflight or opts.devices} connections at a time", file=sys.stderr)
        print("setup: instance, CA, catalog, user, certificates ...", file=sys.stderr)
        setup = bench.setup()
        bench.start_daemon()
        setup["register_s"] = bench.register()
        print(f"  done in {setup['setup_s']:.1f} s (certificates {setup['issue_s']:.1f} s), "
              f"{opts.devices} registrations in {setup['register_s']:.1f} s", file=sys.stderr)
        print("(b) JITR: new devices connect until all are active ...", file=sys.stderr)
        b = bench.jitr()
        print("(a) bare: the same devices connect again (already active) ...", file=sys.stderr)
        a = bench.bare()
        bench.db.close()
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

    ratio = b["rate"] / a["rate"] if a["rate"] > 0 else 0.0
    ratio_store = b["store_rate"] / a["rate"] if a["rate"] > 0 else 0.0
    result = {"machine": machine(), "devices": opts.devices,
              "inflight": opts.inflight or opts.devices, "probe_ms": opts.probe_ms,
              "setup": setup, "bare": a, "jitr": b, "ratio": ratio, "ratio_store": ratio_store}
    if opts.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["machine"]
    sa, sb = a["storm"], b["storm"]
    print(f"machine:  {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}")
    print(f"load:     {opts.devices} devices, {result['inflight']} connections at a time, "
          f"{sa['threads']} client threads; probe every {opts.probe_ms} ms until active")
    print(f"(a) bare mTLS connect:  {a['rate']:>7.0f} devices/s  (all {sa['connected']} CONNACKs "
          f"after {sa['connect_window_s']:.2f} s; connect p50 {sa['connect_p50_ms']:.0f} ms, "
          f"p95 {sa['connect_p95_ms']:.0f} ms; broker {a['broker_cpu_ms_per_device']:.2f} ms, "
          f"daemon {a['daemon_cpu_ms_per_device']:.2f} ms CPU/device)")
    print(f"(b) JITR until active:  {b['rate']:>7.0f} devices/s  (all {sb['active']} active "
          f"after {sb['active_window_s']:.2f} s; CONNACKs after {sb['connect_window_s']:.2f} s; "
          f"activation after CONNACK p50 {sb['activation_p50_ms']:.0f} ms, "
          f"p95 {sb['activation_p95_ms']:.0f} ms, max {sb['activation_max_ms']:.0f} ms; "
          f"{sb['refused_probes']} probes refused)")
    print(f"    store view: all {opts.devices} recorded after {b['store_all_seen_s']:.2f} s, "
          f"all ACTIVE after {b['store_all_active_s']:.2f} s ({b['store_rate']:.0f}/s); "
          f"registrations complete {b['registrations_complete']}; broker "
          f"{b['broker_cpu_ms_per_device']:.2f} ms, daemon {b['daemon_cpu_ms_per_device']:.2f} "
          f"ms CPU/device")
    print(f"ratio (b)/(a):  {ratio:.2f} until every device can publish, "
          f"{ratio_store:.2f} until the store has every certificate ACTIVE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
