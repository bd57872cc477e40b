#!/usr/bin/env python3
"""Ingest benchmark: N devices with real certificates publish QoS 1 telemetry (~90-byte JSON) as
fast as the broker takes it, five times in one run (issues 11 and 14):

  (a) bare broker, no subscriber: the instance's mosquitto.conf (our plugin, the spool tap off)
      and no daemon; rate = the publisher's PUBACKs per second;
  (b) bare broker + null subscriber (`smartproduct-sim subscribe-null`, svc-backend certificate,
      QoS 1): rate = (n-1)/(t_last - t_first) at the subscriber (the baseline of durable ingest);
  (c) durable ingest through the spool: the daemon with [ingest] source = "spool" and its managed
      broker with the tap on;
  (d) durable ingest through MQTT: [ingest] source = "mqtt", the broker without the tap;
  (e) (c) with an empty telemetry pipeline (the default is the seed's transform), rollups on;
  for (c), (d) and (e) rate = rows committed per second, observed by polling telemetry.db read-only
  (first row seen -> all rows seen), plus the total time from the start of the publisher until all
  rows are stored.

Prints the rates, the ratios to (a) and (b), daemon and broker CPU per message (utime+stime delta from
/proc/<pid>/stat), the clients' (getrusage of the reaped publisher and subscriber), the rate the
cores allow at the sum of those, the daemon's peak RSS (VmHWM) and the machine. Python 3 standard library only.
Every process started here is stopped by pid; the temp dir is removed (unless --keep).

Usage: ./dev.sh bench ingest [--quick] [--devices N] [--messages TOTAL] [--inflight K] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- process bookkeeping ---------------------------------------------------------------------
class Processes:
    """Every process this script starts, stopped by pid (never by name) at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.extra_pids: list[int] = []  # e.g. the daemon's managed broker

    def start(self, args: list[str], log: Path, **kw) -> subprocess.Popen:
        with open(log, "ab") as out:
            p = subprocess.Popen(args, stdout=kw.pop("stdout", out), stderr=out,
                                 stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    @staticmethod
    def stop_pid(pid: int, timeout: float = 15.0) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self, p: subprocess.Popen, timeout: float = 15.0) -> None:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            self.stop(p)
        for pid in self.extra_pids:
            self.stop_pid(pid)


# --- helpers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last = e
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the "(comm)" field: state is fields[0], utime is field 14 overall -> index 11 here.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """tid -> (name, CPU seconds) for every thread of pid (where the daemon's time goes)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            out[int(task.name)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
        except (OSError, ValueError, IndexError):
            pass
    return out


def wait_for_rows(rows, base: int, total: int, daemon: subprocess.Popen, deadline: float):
    """Polls rows() every 20 ms until `total` rows beyond `base` are stored or the deadline passes.
    Returns (rows seen, monotonic time the first new row was seen or None, time it ended)."""
    t_first = None
    n = base
    while time.monotonic() < deadline:
        n = rows()
        if t_first is None and n > base:
            t_first = time.monotonic()
        if n - base >= total:
            break
        if daemon.poll() is not None:
            raise RuntimeError("daemon died during the run")
        time.sleep(0.02)
    return n, t_first, time.monotonic()


def children_cpu() -> float:
    """utime + stime of every child this script has reaped so far (the publisher, the null
    subscriber): deltas around a run give a finished child's CPU."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release()}


def tcp_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def run(args: list[str], timeout: float = 120) -> str:
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    return out.stdout


def last_json_line(text: str) -> dict:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON summary in output:\n{text}")


# --- the benchmark ---------------------------------------------------------------------------
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
        self.per_device = max(1, opts.messages // opts.devices)
        self.total = self.per_device * opts.devices

    def setup(self) -> None:
        # JITR off: the bench measures ingest, not activation (certificates may publish at once).
        run([str(self.bin / "smartproductctl"), "init", "--dir", str(self.inst),
             "--http-port", str(self.http_port), "--mqtt-port", str(self.mqtt_port),
             "--hostname", "localhost", "--jitr", "off"])
        run([str(self.bin / "smartproductctl"), "ca", "create", "--name", "bench", "--dir",
             str(self.inst)])
        self.certs.mkdir()
        for i in range(1, self.o.devices + 1):
            run([str(self.bin / "smartproductctl"), "device-cert", "issue", "--dir",
                 str(self.inst), "--ca", "bench", "--serial", self.serial(i), "--out",
                 str(self.certs)])
        self.conf_spool = self.inst / "broker" / "mosquitto.conf"
        # The same broker without the tap, for (a), (b) and (d).
        self.conf = self.inst / "broker" / "mosquitto-nospool.conf"
        self.conf.write_text("".join(l for l in self.conf_spool.read_text().splitlines(True)
                                     if not l.startswith("plugin_opt_spool_")))
        self.ca = self.inst / "pki" / "root-ca.crt"

    def set_source(self, source: str, pipeline: bool = True) -> None:
        toml = self.inst / "smartproduct.toml"
        conf = "broker/mosquitto.conf" if source == "spool" else "broker/mosquitto-nospool.conf"
        out = []
        for line in toml.read_text().split("\n[telemetry.pipeline]\n")[0].splitlines():
            if line.startswith("source = "):
                line = f'source = "{source}"'
            elif line.startswith("mosquitto_conf = "):
                line = f'mosquitto_conf = "{conf}"'
            out.append(line)
        if not pipeline:  # the default is the seed's transform; an empty list turns it off
            out += ["", "[telemetry.pipeline]", "activities = []"]
        toml.write_text("\n".join(out) + "\n")

    def serial(self, i: int) -> str:
        return f"{self.o.prefix}{i:05d}"

    def broker_args(self) -> list[str]:
        return ["--host", "localhost", "--port", str(self.mqtt_port), "--cafile", str(self.ca)]

    def publisher(self, log_name: str) -> subprocess.Popen:
        args = [str(self.bin / "smartproduct-sim"), "publish", *self.broker_args(),
                "--cert-dir", str(self.certs), "--count", str(self.o.devices),
                "--prefix", self.o.prefix, "--messages", str(self.per_device), "--qos", "1",
                "--inflight", str(self.o.inflight), "--payload", "small", "--json"]
        return self.procs.start(args, self.tmp / log_name, stdout=subprocess.PIPE)

    @staticmethod
    def finish_publisher(p: subprocess.Popen, timeout: float) -> dict:
        out, _ = p.communicate(timeout=timeout)
        summary = last_json_line(out.decode())
        if p.returncode != 0:
            raise RuntimeError(f"publisher exited with {p.returncode}: {summary}")
        return summary

    # (a) -------------------------------------------------------------------------------------
    def bare_broker_alone(self) -> dict:
        broker = self.procs.start(["/usr/sbin/mosquitto", "-c", str(self.conf)],
                                  self.tmp / "bare-broker-alone.log", start_new_session=True)
        wait_for(lambda: tcp_open(self.mqtt_port) or broker.poll() is not None, 15,
                 "bare mosquitto listening")
        if broker.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {(self.tmp / 'bare-broker-alone.log').read_text()}")
        cpu0 = cpu_seconds(broker.pid)
        pub_cpu0 = children_cpu()
        pub = self.publisher("publisher-a0.log")
        pub_summary = self.finish_publisher(pub, timeout=600)
        pub_cpu = children_cpu() - pub_cpu0
        broker_cpu = cpu_seconds(broker.pid) - cpu0
        self.procs.stop(broker)
        wait_for(lambda: not tcp_open(self.mqtt_port), 15, "bare mosquitto stopped")
        return {"rate": pub_summary["rate_msg_s"], "publisher": pub_summary,
                "broker_cpu_us_per_msg": broker_cpu * 1e6 / self.total,
                "clients_cpu_us_per_msg": pub_cpu * 1e6 / self.total}

    # (b) -------------------------------------------------------------------------------------
    def bare_broker(self) -> dict:
        broker = self.procs.start(["/usr/sbin/mosquitto", "-c", str(self.conf)],
                                  self.tmp / "bare-broker.log", start_new_session=True)
        wait_for(lambda: tcp_open(self.mqtt_port) or broker.poll() is not None, 15,
                 "bare mosquitto listening")
        if broker.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {(self.tmp / 'bare-broker.log').read_text()}")
        sub = self.procs.start(
            [str(self.bin / "smartproduct-sim"), "subscribe-null", *self.broker_args(),
             "--cert", str(self.inst / "pki" / "svc-backend.crt"),
             "--key", str(self.inst / "pki" / "svc-backend.key"),
             "--filter", "smartproduct/telemetry/+", "--qos", "1", "--receive-maximum", "1000",
             "--expect", str(self.total), "--idle-timeout", "15", "--json"],
            self.tmp / "null-subscriber.log", stdout=subprocess.PIPE)
        line = sub.stdout.readline().decode()
        if not line.startswith("subscribed"):
            raise RuntimeError(f"null subscriber did not subscribe: {line!r}; log: "
                               f"{(self.tmp / 'null-subscriber.log').read_text()}")
        cpu0 = cpu_seconds(broker.pid)
        clients_cpu0 = children_cpu()
        pub = self.publisher("publisher-a.log")
        pub_summary = self.finish_publisher(pub, timeout=600)
        out, _ = sub.communicate(timeout=60)
        clients_cpu = children_cpu() - clients_cpu0  # the publisher and the null subscriber
        sub_summary = last_json_line(out.decode())
        broker_cpu = cpu_seconds(broker.pid) - cpu0
        self.procs.stop(broker)
        wait_for(lambda: not tcp_open(self.mqtt_port), 15, "bare mosquitto stopped")
        if sub_summary["received"] != self.total:
            raise RuntimeError(f"null subscriber got {sub_summary['received']} of {self.total}")
        return {"rate": sub_summary["rate_msg_s"], "window_s": sub_summary["window_s"],
                "publisher": pub_summary,
                "broker_cpu_us_per_msg": broker_cpu * 1e6 / self.total,
                "clients_cpu_us_per_msg": clients_cpu * 1e6 / self.total}

    # (c), (d) ---------------------------------------------------------------------------------
    def ready(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        conn = http.client.HTTPSConnection("localhost", self.http_port, timeout=2, context=ctx)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    def daemon(self, source: str, pipeline: bool = True) -> dict:
        self.set_source(source, pipeline)
        d = self.procs.start([str(self.bin / "smartproductd"), "--config",
                              str(self.inst / "smartproduct.toml")], self.tmp / f"daemon-{source}.log")
        wait_for(lambda: d.poll() is not None or self.ready(), 60, "smartproductd /readyz")
        if d.poll() is not None:
            raise RuntimeError(f"daemon exited: {(self.tmp / 'daemon.log').read_text()[-3000:]}")
        broker_pid = int((self.inst / "broker" / "managed-broker.pid").read_text().strip())
        self.procs.extra_pids.append(broker_pid)
        db_path = self.inst / "data" / "telemetry.db"
        wait_for(db_path.exists, 30, "telemetry.db")
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)

        def rows() -> int:
            # max(id) is O(log n) where count(*) scans: the table only grows during the run.
            return db.execute("SELECT coalesce(max(id), 0) FROM telemetry").fetchone()[0]

        base = rows()
        threads0 = thread_cpu(d.pid)
        cpu0 = cpu_seconds(d.pid)
        broker_cpu0 = cpu_seconds(broker_pid)
        t_start = time.monotonic()
        pub_cpu0 = children_cpu()
        pub = self.publisher("publisher-b.log")
        n, t_first, t_done = wait_for_rows(rows, base, self.total, d, t_start + self.o.timeout)
        stored = n - base
        pub_summary = self.finish_publisher(pub, timeout=120)
        pub_cpu = children_cpu() - pub_cpu0
        cpu = cpu_seconds(d.pid) - cpu0
        broker_cpu = cpu_seconds(broker_pid) - broker_cpu0
        hwm = status_kb(d.pid, "VmHWM")
        threads1 = thread_cpu(d.pid)
        # Threads in creation order (tid order), with their share of the run's CPU.
        per_thread = [{"tid": tid, "name": name,
                       "cpu_us_per_msg": (sec - threads0.get(tid, (name, 0.0))[1]) * 1e6 / self.total}
                      for tid, (name, sec) in sorted(threads1.items())]
        exact = db.execute("SELECT count(*), min(received_at), max(received_at) FROM telemetry "
                           "WHERE id > ?", (base,)).fetchone()
        db.close()
        # Stops the daemon and its managed broker before the next run.
        self.procs.stop(d)
        self.procs.stop_pid(broker_pid)
        wait_for(lambda: not tcp_open(self.mqtt_port), 15, "managed broker stopped")
        if stored < self.total:
            raise RuntimeError(f"only {stored} of {self.total} rows stored within "
                               f"{self.o.timeout}s")
        window = t_done - (t_first or t_start)
        recv_span_ms = (exact[2] - exact[1]) if exact[1] is not None else 0
        return {"rate": (self.total - 1) / window if window > 0 else 0.0,
                "window_s": window,
                "total_s": t_done - t_start,
                "rows": exact[0],
                "received_at_rate": ((exact[0] - 1) * 1000.0 / recv_span_ms
                                     if recv_span_ms > 0 else 0.0),
                "publisher": pub_summary,
                "daemon_cpu_us_per_msg": cpu * 1e6 / self.total,
                "broker_cpu_us_per_msg": broker_cpu * 1e6 / self.total,
                "clients_cpu_us_per_msg": pub_cpu * 1e6 / self.total,
                "daemon_peak_rss_mib": hwm / 1024.0,
                "daemon_threads": [t for t in per_thread if t["cpu_us_per_msg"] >= 0.5]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=4, help="simulated devices (default 4)")
    ap.add_argument("--messages", type=int, default=200_000, help="total messages per run")
    ap.add_argument("--quick", action="store_true", help="20k messages instead of 200k")
    ap.add_argument("--inflight", type=int, default=100, help="max in-flight per device")
    ap.add_argument("--prefix", default="BENCH-", help="device serial prefix")
    ap.add_argument("--bin", default=os.environ.get("SP_BIN_DIR", str(ROOT / "build" / "bin")),
                    help="directory with smartproductd, smartproductctl, smartproduct-sim")
    ap.add_argument("--timeout", type=float, default=600, help="max seconds per run")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    opts = ap.parse_args()
    if opts.quick:
        opts.messages = 20_000
    for exe in ("smartproductd", "smartproductctl", "smartproduct-sim", "mosquitto_smartproduct.so"):
        if not (Path(opts.bin) / exe).exists():
            print(f"missing {Path(opts.bin) / exe} (build first, or pass --bin)", file=sys.stderr)
            return 2

    # SIGTERM/SIGINT -> exception -> finally: cleanup.
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    tmp = Path(tempfile.mkdtemp(prefix="sp-bench-ingest-"))
    # The broker drops privileges to the `mosquitto` user: it must be able to reach the instance.
    tmp.chmod(0o755)
    procs = Processes()
    try:
        bench = Bench(opts, tmp, procs)
        print(f"ingest benchmark: {opts.devices} devices x {bench.per_device} QoS 1 messages "
              f"= {bench.total} per run, inflight {opts.inflight}", file=sys.stderr)
        bench.setup()
        print("(a) bare broker, no subscriber ...", file=sys.stderr)
        a = bench.bare_broker_alone()
        print("(b) bare broker + null subscriber ...", file=sys.stderr)
        b = bench.bare_broker()
        print("(c) daemon <- spool -> SQLite ...", file=sys.stderr)
        c = bench.daemon("spool")
        print("(d) daemon <- MQTT -> SQLite ...", file=sys.stderr)
        d = bench.daemon("mqtt")
        print("(e) daemon <- spool -> SQLite, no pipeline ...", file=sys.stderr)
        e = bench.daemon("spool", pipeline=False)
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

    def r(x, y):
        return x["rate"] / y["rate"] if y["rate"] > 0 else 0.0
    result = {"machine": machine(), "devices": opts.devices, "messages": bench.total,
              "inflight": opts.inflight, "bare": a, "bare_null_subscriber": b, "spool": c,
              "mqtt": d, "spool_no_pipeline": e,
              "ratios": {"c/b": r(c, b), "c/a": r(c, a), "d/b": r(d, b), "c/d": r(c, d),
                         "c/e": r(c, e)}}
    if opts.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["machine"]
    print(f"machine:  {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}")
    print(f"load:     {opts.devices} devices, {bench.total} QoS 1 messages (~90 B JSON) per run, "
          f"inflight {opts.inflight}/device")
    print(f"(a) bare broker, no subscriber:    {a['rate']:>9.0f} msg/s  "
          f"(publisher acks; broker {a['broker_cpu_us_per_msg']:.1f} µs/msg)")
    print(f"(b) bare broker + null subscriber: {b['rate']:>9.0f} msg/s  "
          f"(subscriber window {b['window_s']:.2f} s; broker {b['broker_cpu_us_per_msg']:.1f} "
          f"µs/msg)")
    for name, x in (("(c) daemon <- spool -> SQLite:     ", c), ("(d) daemon <- MQTT -> SQLite:      ", d),
                    ("(e) (c) without the pipeline:      ", e)):
        print(f"{name}{x['rate']:>9.0f} msg/s  (rows committed; all {x['rows']} stored "
              f"{x['total_s']:.2f} s after the publisher started; publisher saw "
              f"{x['publisher']['rate_msg_s']:.0f} acks/s; daemon {x['daemon_cpu_us_per_msg']:.1f} "
              f"µs/msg, broker {x['broker_cpu_us_per_msg']:.1f} µs/msg, peak RSS "
              f"{x['daemon_peak_rss_mib']:.0f} MiB)")
    rs = result["ratios"]
    print(f"ratios: (c)/(b) {rs['c/b']:.2f} (target >= 1.5), (c)/(a) {rs['c/a']:.2f} (target >= "
          f"0.75), (d)/(b) {rs['d/b']:.2f}, (c)/(d) {rs['c/d']:.2f}, (c)/(e) {rs['c/e']:.2f} "
          f"(target >= 0.9); daemon CPU on the spool path {c['daemon_cpu_us_per_msg']:.1f} µs/msg "
          f"(target <= 10; pipeline and rollups on: <= 12), without the pipeline "
          f"{e['daemon_cpu_us_per_msg']:.1f}")
    # Every process of a run shares the machine's cores: the sum of their CPU per message bounds
    # the rate any run can reach here (nproc / total), whatever each one's latency.
    print(f"CPU per message, all processes (clients = publisher, and the null subscriber in (b)); "
          f"the rate {m['nproc']} cores allow at that cost:")
    for name, x in (("(a)", a), ("(b)", b), ("(c)", c), ("(d)", d), ("(e)", e)):
        total = (x["broker_cpu_us_per_msg"] + x["clients_cpu_us_per_msg"]
                 + x.get("daemon_cpu_us_per_msg", 0.0))
        x["all_cpu_us_per_msg"] = total
        print(f"  {name} broker {x['broker_cpu_us_per_msg']:.1f} + clients "
              f"{x['clients_cpu_us_per_msg']:.1f}"
              + (f" + daemon {x['daemon_cpu_us_per_msg']:.1f}" if "daemon_cpu_us_per_msg" in x
                 else "")
              + f" = {total:.1f} µs -> at most {m['nproc'] * 1e6 / total:.0f} msg/s "
              f"(measured {x['rate']:.0f})")
    for name, x in (("spool", c), ("mqtt", d), ("spool, no pipeline", e)):
        print(f"daemon threads, {name} (tid order, µs CPU/msg): " + ", ".join(
            f"{t['tid']} {t['name']} {t['cpu_us_per_msg']:.1f}" for t in x["daemon_threads"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
