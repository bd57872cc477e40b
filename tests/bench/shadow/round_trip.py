#!/usr/bin/env python3
"""Shadow round-trip benchmark: N devices (default 1,000, real certificates, mutual TLS, MQTT v5)
each send shadow updates one after the other, all devices at once, measured twice in one run on
the same broker (the instance's mosquitto.conf with our plugin):

  (a) bare broker: mosquitto alone; each device publishes QoS 1 on its own command topic and waits
      until the broker delivers the message back to it (publish -> subscribe round trip);
  (b) the daemon (smartproductd with its managed broker): each device publishes
      `$aws/things/<sn>/shadow/update` and waits for its `update/accepted` (matched by clientToken):
      broker -> daemon -> SQLite commit -> accepted at QoS 1 -> broker -> device.

Both phases use `smartproduct-sim shadow-bench` (one process, one epoll loop per thread) and print
p50/p99 and updates/s; the ratio (b)/(a) says what the shadow service costs over the bare broker.
Every process started here is stopped by pid; the temp dir is removed (unless --keep).

Usage: SP_BIN_DIR=build/bin /usr/bin/python3 tests/bench/shadow/round_trip.py [--devices N]
       [--updates K] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "bench" / "ingest"))
import run as ingest  # noqa: E402  (process bookkeeping and helpers shared with the ingest bench)


class Bench:
    def __init__(self, opts: argparse.Namespace, tmp: Path, procs: ingest.Processes) -> None:
        self.o = opts
        self.tmp = tmp
        self.procs = procs
        self.bin = Path(opts.bin)
        self.inst = tmp / "instance"
        self.http_port = ingest.free_port()
        self.mqtt_port = ingest.free_port()

    def setup(self) -> None:
        # JITR off: the bench measures the shadow path, not activation.
        ingest.run([str(self.bin / "smartproductctl"), "init", "--dir", str(self.inst),
                    "--http-port", str(self.http_port), "--mqtt-port", str(self.mqtt_port),
                    "--hostname", "localhost", "--jitr", "off"])
        ingest.run([str(self.bin / "smartproductctl"), "ca", "create", "--name", "bench",
                    "--dir", str(self.inst)])
        self.ca = self.inst / "pki" / "root-ca.crt"

    def sim(self, mode: str, log_name: str) -> dict:
        args = [str(self.bin / "smartproduct-sim"), "shadow-bench", "--dir", str(self.inst),
                "--ca", "bench", "--devices", str(self.o.devices), "--updates",
                str(self.o.updates), "--mode", mode, "--json"]
        p = self.procs.start(args, self.tmp / log_name, stdout=subprocess.PIPE)
        # The first call also issues the devices' certificates (smartproductctl, ~20/s here).
        out, _ = p.communicate(timeout=1800)
        result = ingest.last_json_line(out.decode())
        if p.returncode != 0:
            raise RuntimeError(f"shadow-bench --mode {mode} exited with {p.returncode}: {result}; "
                               f"log: {(self.tmp / log_name).read_text()[-2000:]}")
        return result

    def bare_broker(self) -> dict:
        conf = self.inst / "broker" / "mosquitto.conf"
        broker = self.procs.start(["/usr/sbin/mosquitto", "-c", str(conf)],
                                  self.tmp / "bare-broker.log", start_new_session=True)
        ingest.wait_for(lambda: ingest.tcp_open(self.mqtt_port) or broker.poll() is not None, 15,
                        "bare mosquitto listening")
        if broker.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {(self.tmp / 'bare-broker.log').read_text()}")
        try:
            return self.sim("echo", "sim-echo.log")
        finally:
            self.procs.stop(broker)

    ready = ingest.Bench.ready  # GET /readyz with the instance's root CA (self.ca, self.http_port)

    def daemon(self) -> dict:
        d = self.procs.start([str(self.bin / "smartproductd"), "--config",
                              str(self.inst / "smartproduct.toml")], self.tmp / "daemon.log")
        ingest.wait_for(lambda: d.poll() is not None or self.ready(), 60, "smartproductd /readyz")
        if d.poll() is not None:
            raise RuntimeError(f"daemon exited: {(self.tmp / 'daemon.log').read_text()[-3000:]}")
        broker_pid = int((self.inst / "broker" / "managed-broker.pid").read_text().strip())
        self.procs.extra_pids.append(broker_pid)
        cpu0 = ingest.cpu_seconds(d.pid)
        result = self.sim("shadow", "sim-shadow.log")
        daemon_cpu = ingest.cpu_seconds(d.pid) - cpu0
        if result["answered"]:
            result["daemon_cpu_us_per_update"] = daemon_cpu * 1e6 / result["answered"]
        self.procs.stop(d)
        return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--updates", type=int, default=20, help="updates per device")
    ap.add_argument("--bin", default=os.environ.get("SP_BIN_DIR") or str(ROOT / "build" / "bin"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    opts = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="sp-bench-shadow-"))
    # As root, mosquitto drops to its own user, which must reach the broker files inside.
    tmp.chmod(0o755)
    procs = ingest.Processes()

    def on_signal(signum, _frame):
        procs.stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        bench = Bench(opts, tmp, procs)
        bench.setup()
        # Certificates first (outside both measurements): the echo run issues them.
        bare = bench.bare_broker()
        shadow = bench.daemon()
    finally:
        procs.stop_all()
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    ratio_p50 = shadow["p50_ms"] / bare["p50_ms"] if bare["p50_ms"] else float("nan")
    ratio_p99 = shadow["p99_ms"] / bare["p99_ms"] if bare["p99_ms"] else float("nan")
    ratio_rate = shadow["per_s"] / bare["per_s"] if bare["per_s"] else float("nan")
    summary = {"machine": ingest.machine(), "devices": opts.devices, "updates": opts.updates,
               "bare_broker": bare, "shadow": shadow, "ratio_p50": ratio_p50,
               "ratio_p99": ratio_p99, "ratio_rate": ratio_rate}
    if opts.json:
        print(json.dumps(summary))
    else:
        print(f"machine: {summary['machine']}")
        print(f"{opts.devices} devices x {opts.updates} updates, one in flight per device")
        print(f"(a) bare broker pub->sub round trip: p50 {bare['p50_ms']:.2f} ms, "
              f"p99 {bare['p99_ms']:.2f} ms, {bare['per_s']:.0f} msg/s "
              f"({bare['answered']} answered, {bare['failed']} failed)")
        print(f"(b) shadow update -> accepted:       p50 {shadow['p50_ms']:.2f} ms, "
              f"p99 {shadow['p99_ms']:.2f} ms, {shadow['per_s']:.0f} updates/s "
              f"({shadow['answered']} answered, {shadow['failed']} failed, daemon "
              f"{shadow.get('daemon_cpu_us_per_update', 0):.0f} us CPU/update)")
        print(f"ratio (b)/(a): p50 x{ratio_p50:.1f}, p99 x{ratio_p99:.1f}, rate x{ratio_rate:.2f}")
    return 0 if shadow["failed"] == 0 and bare["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
