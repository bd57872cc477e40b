"""The daemon speaks systemd's notification protocol (Type=notify): READY=1 only once /readyz would
answer 200, WATCHDOG=1 pings at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM. The socket here is a
real AF_UNIX datagram socket, as systemd's. The shipped unit passes `systemd-analyze verify`."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness import BIN, Instance

ROOT = Path(__file__).resolve().parents[2]


def receive_all(sock: socket.socket, until: str, timeout: float) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            break
        if any(until in m for m in got):
            break
    return got


def test_ready_watchdog_and_stopping_notifications(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    inst = Instance()
    saved = {k: os.environ.get(k) for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    os.environ["NOTIFY_SOCKET"] = str(path)
    os.environ["WATCHDOG_USEC"] = "400000"  # pings every 0.2 s
    os.environ.pop("WATCHDOG_PID", None)
    try:
        inst.start(wait_ready=False)
        messages = receive_all(sock, "READY=1", 60)
        ready = [m for m in messages if "READY=1" in m]
        assert ready, messages
        # When READY=1 arrives the daemon answers /readyz with 200 (database and broker are up).
        assert inst.status("/readyz") == 200
        pings = [m for m in receive_all(sock, "never", 1.5) if m == "WATCHDOG=1"]
        assert len(pings) >= 3, pings
        inst.proc.terminate()
        assert any("STOPPING=1" in m for m in receive_all(sock, "STOPPING=1", 20))
        assert inst.proc.wait(timeout=30) == 0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        inst.cleanup()
        sock.close()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_file_verifies(tmp_path):
    unit = (ROOT / "config" / "systemd" / "smartproductd.service").read_text()
    # verify checks that ExecStart's program exists: point it at this build's daemon.
    local = tmp_path / "smartproductd.service"
    local.write_text(unit.replace("/usr/bin/smartproductd", str(BIN / "smartproductd")))
    out = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True,
                         timeout=60)
    problems = [line for line in (out.stdout + out.stderr).splitlines()
                if "smartproductd.service" in line]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr
