#!/usr/bin/env python3
"""Events with live fan-out: many devices publish events (smartproduct-sim, QoS 1, real mTLS)
while N WebSocket clients are connected to GET /api/ws.

Phases, on one instance (the devices are registered to U users; each client signs in as one of
them, so an event goes to that user's connections only, as in production):
  (a) max ingest, no clients: every device publishes as fast as PUBACKs come, for --duration;
      rate = events committed per second (rows in smartproduct.db).
  (b) max ingest, N clients connected: the same; ratio (b)/(a) is the cost of the fan-out.
  (c) latency, N clients: every device publishes one event per --interval-ms; each client records
      receive time minus the event's device timestamp (same machine clock): p50/p99.
Figures only; nothing passes or fails. `./dev.sh bench events` runs it with the defaults."""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("ingest_bench", ROOT / "tests/bench/ingest/run.py")
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)
Processes, free_port, wait_for = ingest.Processes, ingest.free_port, ingest.wait_for
cpu_seconds, machine, run, last_json_line = (ingest.cpu_seconds, ingest.machine, ingest.run,
                                             ingest.last_json_line)

sys.path.insert(0, str(ROOT / "tests" / "integration"))
import websocket  # noqa: E402  Debian python3-websocket

PASSWORD = "bench-password-123"
MODEL = "25HNB9"
TS = re.compile(rb'"timestamp":(\d+)')


class Client:
    """One WebSocket client on its own thread: counts events and records their latency."""

    def __init__(self, port: int, ca: Path, token: str) -> None:
        self.ws = websocket.create_connection(
            f"wss://localhost:{port}/api/ws",
            sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(ca)}, timeout=30)
        self.ws.send(json.dumps({"type": "auth", "token": token}))
        reply = json.loads(self.ws.recv())
        if reply.get("type") != "authenticated":
            raise RuntimeError(f"auth failed: {reply}")
        self.ws.settimeout(None)
        self.events = 0
        self.latencies: list[int] = []
        self.recording = False
        self.close_code: int | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                    return
                if b'"type":"event"' not in data:
                    continue
                self.events += 1
                if self.recording:
                    m = TS.search(data)
                    if m:
                        self.latencies.append(int(time.time() * 1000) - int(m.group(1)))
        except Exception:  # noqa: BLE001 - closed
            if self.close_code is None:
                self.close_code = 1006

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass


def set_keys(config: Path, section: str, keys: dict) -> None:
    """Sets keys of [section] in the generated config (appends the section if it is missing)."""
    lines = config.read_text().splitlines()
    if f"[{section}]" not in (l.strip() for l in lines):
        lines += ["", f"[{section}]"]
    start = next(n for n, l in enumerate(lines) if l.strip() == f"[{section}]") + 1
    end = next((n for n in range(start, len(lines)) if lines[n].lstrip().startswith("[")),
               len(lines))
    for key, value in keys.items():
        same = [n for n in range(start, end) if lines[n].split("=")[0].strip() == key]
        if same:
            lines[same[0]] = f"{key} = {value}"
        else:
            lines.insert(start, f"{key} = {value}")
            end += 1
    config.write_text("\n".join(lines) + "\n")


def settle(clients: list[Client], quiet_s: float = 2.0, limit_s: float = 60.0) -> None:
    """Waits until no client has received anything for quiet_s (earlier pushes delivered)."""
    deadline = time.monotonic() + limit_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        total = sum(c.events for c in clients)
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.2)


def pct(values: list[int], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return float(s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))])


class Bench:
    def __init__(self, o: argparse.Namespace, tmp: Path, procs: Processes) -> None:
        self.o, self.tmp, self.procs = o, tmp, procs
        self.bin = Path(o.bin)
        self.inst = tmp / "instance"
        self.certs = tmp / "certs"
        self.http_port, self.mqtt_port = free_port(), free_port()
        self.ctl = str(self.bin / "smartproductctl")
        self.config = self.inst / "smartproduct.toml"
        self.ca = self.inst / "pki" / "root-ca.crt"
        self.serials = [f"EV-{i:05d}" for i in range(1, o.devices + 1)]
        self.users = [f"user{u:03d}@example.com" for u in range(max(1, o.users))]
        self.tokens: dict[str, str] = {}

    def setup(self) -> None:
        run([self.ctl, "init", "--dir", str(self.inst), "--http-port", str(self.http_port),
             "--mqtt-port", str(self.mqtt_port), "--hostname", "localhost", "--jitr", "off"])
        run([self.ctl, "ca", "create", "--name", "bench", "--dir", str(self.inst)])
        per_user = -(-self.o.clients // len(self.users))
        set_keys(self.config, "live", {"max_connections": self.o.clients + 100,
                                       "max_connections_per_user": per_user + 5,
                                       "queue_messages": self.o.queue})
        catalog = self.tmp / "catalog.csv"
        catalog.write_text("deviceId,modelNumber,details\n" +
                           "".join(f"{s},{MODEL},{{}}\n" for s in self.serials))
        run([self.ctl, "catalog", "import", "--config", str(self.config), str(catalog)])
        for email in self.users:
            out = subprocess.run([self.ctl, "user", "add", "--config", str(self.config), "--email",
                                  email, "--password-stdin"], input=PASSWORD + "\n", text=True,
                                 capture_output=True, timeout=60)
            if out.returncode != 0:
                raise RuntimeError(f"user add failed: {out.stdout}{out.stderr}")
        self.certs.mkdir()

        def issue(serial: str) -> None:
            run([self.ctl, "device-cert", "issue", "--dir", str(self.inst), "--ca", "bench",
                 "--serial", serial, "--out", str(self.certs)])

        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(issue, self.serials))

    def https(self) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        return http.client.HTTPSConnection("localhost", self.http_port, timeout=30, context=ctx)

    def call(self, conn, method, path, body=None, token=None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else {}

    def ready(self) -> bool:
        try:
            conn = self.https()
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False

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

    def register(self) -> None:
        conn = self.https()
        for email in self.users:
            self.tokens[email] = self.call(conn, "POST", "/api/auth/login",
                                           {"email": email, "password": PASSWORD})["accessToken"]
        for i, serial in enumerate(self.serials):
            owner = self.users[i % len(self.users)]
            self.call(conn, "POST", "/api/registration",
                      {"deviceId": serial, "deviceName": serial, "modelNumber": MODEL},
                      token=self.tokens[owner])
        conn.close()

    def events(self) -> int:
        return self.db.execute("SELECT count(*) FROM events").fetchone()[0]

    def publish(self, log: str, duration: float, interval_ms: int) -> subprocess.Popen:
        return self.procs.start(
            [str(self.bin / "smartproduct-sim"), "publish", "--host", "localhost", "--port",
             str(self.mqtt_port), "--cafile", str(self.ca), "--cert-dir", str(self.certs), "--count",
             str(self.o.devices), "--prefix", "EV-", "--topic-prefix", "smartproduct/event",
             "--payload", "event", "--duration", str(duration),
             "--inflight", str(self.o.inflight), "--interval-ms", str(interval_ms), "--json",
             "--log-level", "warn"], self.tmp / log, stdout=subprocess.PIPE)

    def phase(self, name: str, interval_ms: int, clients: list[Client]) -> dict:
        before = self.events()
        d0 = cpu_seconds(self.daemon.pid)
        p = self.publish(f"sim-{name}.log", self.o.duration, interval_ms)
        samples = []  # (time, rows)
        while p.poll() is None:
            samples.append((time.monotonic(), self.events() - before))
            time.sleep(0.1)
        out, _ = p.communicate(timeout=60)
        summary = last_json_line(out.decode())
        acked = summary.get("acked", 0)
        wait_for(lambda: self.events() - before >= acked, 60, "every acked event stored")
        samples.append((time.monotonic(), self.events() - before))
        stored = samples[-1][1]
        # Rate over the middle of the run: from the first row to the last row of the publish.
        rows = [(t, n) for t, n in samples if n > 0]
        rate = (rows[-1][1] - rows[0][1]) / (rows[-1][0] - rows[0][0]) if len(rows) > 1 else 0.0
        cpu = cpu_seconds(self.daemon.pid) - d0
        return {"acked": acked, "stored": stored, "rate_events_s": rate,
                "daemon_cpu_us_per_event": 1e6 * cpu / max(1, stored),
                "sim_rate": summary.get("rate_msg_s")}

    def connect_clients(self) -> list[Client]:
        clients = []
        for i in range(self.o.clients):
            email = self.users[i % len(self.users)]
            clients.append(Client(self.http_port, self.ca, self.tokens[email]))
        return clients


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=200, help="WebSocket clients (default 200)")
    ap.add_argument("--users", type=int, default=20,
                    help="device owners; clients sign in round-robin (default 20)")
    ap.add_argument("--duration", type=float, default=15, help="seconds per phase")
    ap.add_argument("--interval-ms", type=int, default=2000,
                    help="per device in the latency phase (default 2000: 500 events/s for 1000)")
    ap.add_argument("--inflight", type=int, default=10, help="per device in the max phases")
    ap.add_argument("--queue", type=int, default=1024, help="[live] queue_messages")
    ap.add_argument("--quick", action="store_true", help="100 devices, 20 clients, 8 s phases")
    ap.add_argument("--bin", default=os.environ.get("SP_BIN_DIR", str(ROOT / "build" / "bin")))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", action="store_true")
    o = ap.parse_args()
    if o.quick:
        o.devices, o.clients, o.users, o.duration = 100, 20, 5, 8
        o.interval_ms = 200

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    tmp = Path(tempfile.mkdtemp(prefix="sp-bench-events-"))
    tmp.chmod(0o755)
    procs = Processes()
    clients: list[Client] = []
    try:
        b = Bench(o, tmp, procs)
        print(f"events benchmark: {o.devices} devices, {o.clients} WebSocket clients of "
              f"{len(b.users)} users; setup ...", file=sys.stderr)
        b.setup()
        b.start_daemon()
        b.register()
        print("(a) max ingest, no clients ...", file=sys.stderr)
        a = b.phase("a", 0, [])
        print(f"    {a['rate_events_s']:.0f} events/s", file=sys.stderr)
        clients = b.connect_clients()
        print(f"(c) latency at one event per {o.interval_ms} ms per device ...", file=sys.stderr)
        ev0 = sum(c.events for c in clients)
        for c in clients:
            c.recording = True
        cc = b.phase("c", o.interval_ms, clients)
        settle(clients)
        lat = [x for c in clients for x in c.latencies]
        cc["pushed"] = sum(c.events for c in clients) - ev0
        cc["latency_ms_p50"], cc["latency_ms_p99"] = pct(lat, 50), pct(lat, 99)
        cc["latency_ms_max"] = max(lat) if lat else float("nan")
        cc["clients_closed"] = sum(1 for c in clients if c.close_code is not None)
        for c in clients:
            c.latencies = []
        print(f"(b) max ingest, {len(clients)} clients ...", file=sys.stderr)
        ev0 = sum(c.events for c in clients)
        bb = b.phase("b", 0, clients)
        settle(clients)
        bb["pushed"] = sum(c.events for c in clients) - ev0
        bb["latency_ms_p50"] = pct([x for c in clients for x in c.latencies], 50)
        bb["latency_ms_p99"] = pct([x for c in clients for x in c.latencies], 99)
        bb["clients_closed"] = sum(1 for c in clients if c.close_code is not None)
        print(f"    {bb['rate_events_s']:.0f} events/s, {bb['pushed']} pushes", file=sys.stderr)
        per_user = len(clients) / len(b.users)
        cc["expected_pushes"] = int(cc["stored"] * per_user)
        bb["expected_pushes"] = int(bb["stored"] * per_user)
        result = {"devices": o.devices, "clients": len(clients), "users": len(b.users),
                  "a_no_clients": a, "b_with_clients": bb, "c_latency": cc,
                  "ratio_b_a": bb["rate_events_s"] / a["rate_events_s"] if a["rate_events_s"] else 0,
                  "machine": machine()}
        if o.json:
            print(json.dumps(result))
        else:
            print(f"\n(a) max event ingest, no clients:      {a['rate_events_s']:8.0f} events/s "
                  f"({a['daemon_cpu_us_per_event']:.0f} us daemon CPU/event)")
            print(f"(b) max event ingest, {len(clients)} clients:   {bb['rate_events_s']:8.0f} "
                  f"events/s ({bb['daemon_cpu_us_per_event']:.0f} us/event), "
                  f"{bb['pushed']}/{bb['expected_pushes']} pushes,"
                  f" push latency p50 {bb['latency_ms_p50']:.0f} ms p99 {bb['latency_ms_p99']:.0f}"
                  f" ms (saturated)")
            print(f"    ratio (b)/(a): {result['ratio_b_a']:.2f}")
            print(f"(c) {cc['rate_events_s']:.0f} events/s offered ({o.devices} devices, one per "
                  f"{o.interval_ms} ms), {cc['pushed']}/{cc['expected_pushes']} pushes: event->push latency p50 "
                  f"{cc['latency_ms_p50']:.0f} ms, p99 {cc['latency_ms_p99']:.0f} ms, max "
                  f"{cc['latency_ms_max']:.0f} ms; clients closed: {cc['clients_closed']}")
            print(f"machine: {result['machine']}")
        b.db.close()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001
        print(f"benchmark failed: {e}\n(logs in {tmp}, kept)", file=sys.stderr)
        o.keep = True
        return 1
    finally:
        for c in clients:
            c.close()
        procs.stop_all()
        if not o.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
