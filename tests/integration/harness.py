"""Real-process test harness: a development instance (smartproductctl init) in a temp dir, the real
smartproductd with its managed mosquitto, clients over TLS. Every process started here is stopped by
pid at teardown, including the managed broker (found through its pid file)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SP_BIN") or os.environ.get("SP_BIN_DIR") or ROOT / "build" / "bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def kill_pid(pid: int, sig=signal.SIGTERM, wait: float = 10.0) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and pid_alive(pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


class Instance:
    """A development instance in a fresh temp dir with free ports, with a managed device CA named
    "test" (`smartproductctl ca create`). `jitr=False` (`init --jitr off`): any certificate from a
    registered, active CA may publish as its CN; `jitr=True`: certificates need activation.
    `settings` adds keys to the daemon's config, e.g. {"commands": {"timeout_s": 2}}."""

    def __init__(self, extra_init_args: list[str] | None = None, jitr: bool = False,
                 settings: dict[str, dict] | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="sp-it-"))
        self.http_port = free_port()
        self.mqtt_port = free_port()
        self.proc: subprocess.Popen | None = None
        args = [str(BIN / "smartproductctl"), "init", "--dir", str(self.dir),
                "--http-port", str(self.http_port), "--mqtt-port", str(self.mqtt_port),
                "--hostname", "localhost", "--jitr", "on" if jitr else "off"] + (extra_init_args or [])
        out = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"init failed: {out.stdout}\n{out.stderr}"
        self.jitr = jitr
        out = subprocess.run([str(BIN / "smartproductctl"), "ca", "create", "--name", "test",
                              "--dir", str(self.dir)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"ca create failed: {out.stdout}\n{out.stderr}"
        self.config = self.dir / "smartproduct.toml"
        # Every test comes from 127.0.0.1, many of them faster than a person: the request limits
        # of the unauthenticated routes are lifted here (test_security.py sets its own to test them).
        lifted = {"public_burst_per_address": 1000000,
                  "public_rate_per_address_per_min": 1000000,
                  "public_burst_global": 1000000,
                  "public_rate_global_per_min": 100000000}
        self.configure({"identity": lifted, "http": lifted})
        if settings:
            self.configure(settings)
        self.log_path = self.dir / "log" / "daemon.log"
        self.ca = self.dir / "pki" / "root-ca.crt"

    def configure(self, settings: dict[str, dict]) -> None:
        """Sets keys in the config file: under an existing [section] header, or in a new section
        appended at the end. Values: int, float, bool or str."""
        def toml(v):
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, (int, float)):
                return str(v)
            return json.dumps(str(v))
        lines = self.config.read_text().splitlines()
        for section, keys in settings.items():
            header = f"[{section}]"
            if header not in (l.strip() for l in lines):
                lines += ["", header]
            start = next(n for n, l in enumerate(lines) if l.strip() == header) + 1
            end = next((n for n in range(start, len(lines)) if lines[n].lstrip().startswith("[")),
                       len(lines))
            for key, value in keys.items():
                line = f"{key} = {toml(value)}"
                same = [n for n in range(start, end) if lines[n].split("=")[0].strip() == key]
                if same:
                    lines[same[0]] = line  # a key may appear once in TOML
                else:
                    lines.insert(start, line)
                    end += 1
        self.config.write_text("\n".join(lines) + "\n")

    # --- daemon ------------------------------------------------------------------------------
    def start(self, wait_ready: bool = True, timeout: float = 30.0) -> "Instance":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(BIN / "smartproductd"), "--config", str(self.config)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if wait_ready:
            wait_for(lambda: self.status("/readyz") == 200 or self._died(), timeout,
                     "smartproductd /readyz")
            assert self.proc.poll() is None, f"daemon exited:\n{self.log()}"
        return self

    def _died(self):
        if self.proc and self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
        return False

    def stop(self, sig=signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def broker_pid(self) -> int | None:
        f = self.dir / "broker" / "managed-broker.pid"
        try:
            pid = int(f.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def cleanup(self) -> None:
        self.stop(timeout=15)
        pid = self.broker_pid()
        if pid:
            kill_pid(pid)
        if os.environ.get("SP_KEEP_TEST_DIRS") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- HTTPS -------------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        return ctx

    def connection(self, timeout: float = 10.0) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("localhost", self.http_port, timeout=timeout,
                                           context=self.ssl_context())

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                token: str | None = None):
        """Returns (status, headers dict (lower-case), parsed JSON or raw bytes)."""
        conn = self.connection()
        try:
            h = dict(headers or {})
            if token:
                h["Authorization"] = f"Bearer {token}"
            data = body
            if isinstance(body, (dict, list)):
                data = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            parsed = raw
            if hdrs.get("content-type", "").startswith("application/json") and raw:
                parsed = json.loads(raw)
            return resp.status, hdrs, parsed
        finally:
            conn.close()

    def status(self, path: str) -> int:
        return self.request("GET", path)[0]


def running_instance(**kwargs):
    """Generator for module-scoped fixtures: a started instance, cleaned up afterwards
    (`yield from running_instance(jitr=True)`)."""
    i = Instance(**kwargs)
    try:
        i.start()
        yield i
    finally:
        i.cleanup()
