"""Issue 2 (foundation) end to end: the real daemon with its managed mosquitto, over real TLS."""

import json
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest

from harness import BIN, Instance, free_port, pid_alive, wait_for


def test_health_and_readiness(instance):
    status, headers, body = instance.request("GET", "/healthz")
    assert status == 200 and body == {"status": "ok"}
    assert headers["content-type"].startswith("application/json")
    assert "strict-transport-security" in headers
    status, _, body = instance.request("GET", "/readyz")
    assert status == 200, body


def test_managed_broker_runs_under_the_daemon(instance):
    pid = instance.broker_pid()
    assert pid, "no managed broker pid file"
    cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    assert "mosquitto" in cmdline and str(instance.dir) in cmdline


def test_errors_are_json(instance):
    status, _, body = instance.request("GET", "/api/no/such/route")
    assert status == 404 and body["code"] == 404 and body["error"] == "NotFound"
    status, headers, body = instance.request("DELETE", "/healthz")
    assert status == 405 and body["error"] == "MethodNotAllowed"
    assert "GET" in headers.get("allow", "")


def test_request_ids(instance):
    """Every response carries X-Request-Id: the client's sane value, else a new one; the server's
    own wire errors too."""
    _, headers, _ = instance.request("GET", "/healthz")
    assert len(headers["x-request-id"]) == 16
    _, headers, _ = instance.request("GET", "/api/no/such/route",
                                     headers={"X-Request-Id": "client-id.42_A"})
    assert headers["x-request-id"] == "client-id.42_A"
    _, headers, _ = instance.request("GET", "/healthz", headers={"X-Request-Id": "bad id;x"})
    assert headers["x-request-id"] != "bad id;x" and len(headers["x-request-id"]) == 16
    ctx = instance.ssl_context()
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", instance.http_port)),
                         server_hostname="localhost") as s:
        s.sendall(b"POST /api/anything HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Length: 71680\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert b"\r\nx-request-id: " in data.lower(), data


def test_oversize_body_is_413(instance):
    # The server answers from the declared length without reading the body, then closes; send only
    # the head so the client is not still writing when the connection closes.
    ctx = instance.ssl_context()
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", instance.http_port)),
                         server_hostname="localhost") as s:
        s.sendall(b"POST /api/anything HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 71680\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), data
    assert json.loads(body)["code"] == 413


def test_oversize_body_413_is_seen_by_a_client_that_sends_the_whole_body_first(instance):
    # Issue 10 finding 8: Python's http.client writes the whole body before reading; before the
    # lingering close it saw "connection reset" instead of the 413.
    conn = instance.connection()
    try:
        conn.request("POST", "/api/auth/login", body=b"x" * (2 * 1024 * 1024),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 413
        assert json.loads(resp.read())["error"] == "PayloadTooLarge"
    finally:
        conn.close()


def raw_exchange(instance, request: bytes) -> bytes:
    ctx = instance.ssl_context()
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", instance.http_port), timeout=10),
                         server_hostname="localhost") as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


@pytest.mark.parametrize("request_bytes", [
    b"GET /healthz HTTP/1.1\r\n\r\n",                                   # no Host
    b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",           # two
    b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked, identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n",   # not bare chunked
    b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
], ids=["no-host", "two-hosts", "chunked-identity", "two-codings"])
def test_malformed_http_framing_is_400_and_closed(instance, request_bytes):
    # Issue 10 finding 12: RFC 9112 §3.2 (exactly one Host) and §6.1 (only a bare chunked).
    data = raw_exchange(instance, request_bytes)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), data
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"] == "BadRequest"


def test_one_host_and_bare_chunked_are_accepted(instance):
    data = raw_exchange(instance, b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\n"
                                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                                  b"Connection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert not data.startswith(b"HTTP/1.1 400 "), data
    # HTTP/1.0 has no Host requirement.
    data = raw_exchange(instance, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200"), data


def test_console_placeholder_and_caching(instance):
    status, headers, body = instance.request("GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"<html" in body.lower()
    etag = headers.get("etag")
    assert etag
    status, _, _ = instance.request("GET", "/", headers={"If-None-Match": etag})
    assert status == 304
    # SPA fallback for a console path
    status, headers, _ = instance.request("GET", "/devices/SN-1")
    assert status == 200 and headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                  "/..%2f..%2fetc%2fpasswd", "/static/..%5c..%5cetc/passwd",
                                  "//etc/passwd"])
def test_no_path_traversal(instance, path):
    conn = instance.connection()
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    assert b"root:" not in body
    assert resp.status in (400, 404) or resp.getheader("content-type", "").startswith("text/html")


def test_tls_below_1_2_refused(instance):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with socket.create_connection(("127.0.0.1", instance.http_port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                tls.recv(100)


def test_slow_client_does_not_block_others(instance):
    ctx = instance.ssl_context()
    slow = ctx.wrap_socket(socket.create_connection(("127.0.0.1", instance.http_port)),
                           server_hostname="localhost")
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    try:
        t0 = time.monotonic()
        for _ in range(5):
            assert instance.status("/healthz") == 200
        assert time.monotonic() - t0 < 5
    finally:
        slow.close()


def test_malformed_request_line_is_400(instance):
    ctx = instance.ssl_context()
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", instance.http_port)),
                         server_hostname="localhost") as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 400")
    assert instance.status("/healthz") == 200


def test_sighup_reloads_and_keeps_serving(instance):
    instance.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload:" in instance.log(), 10, "reload log line")
    assert instance.status("/healthz") == 200
    assert instance.proc.poll() is None


def test_sigterm_stops_gracefully_with_broker(instance):
    broker = instance.broker_pid()
    assert broker
    rc = instance.stop(signal.SIGTERM)
    assert rc == 0, instance.log()
    wait_for(lambda: not pid_alive(broker), 10, "managed broker to stop")


def test_broker_crash_is_restarted(instance):
    old = instance.broker_pid()
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: instance.broker_pid() not in (None, old), 20, "a new broker pid")
    wait_for(lambda: instance.status("/readyz") == 200, 30, "ready again after broker restart")


def test_daemon_kill9_then_restart_adopts_broker(instance):
    broker = instance.broker_pid()
    instance.proc.kill()
    instance.proc.wait()
    instance.proc = None
    assert pid_alive(broker), "the broker must survive a daemon crash (it holds queued messages)"
    instance.start()
    assert instance.broker_pid() == broker
    assert "adopting running mosquitto" in instance.log()


def test_check_config_and_version(stopped_instance):
    out = subprocess.run([str(BIN / "smartproductd"), "--config", str(stopped_instance.config),
                          "--check-config"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([str(BIN / "smartproductd"), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("smartproductd ")


def test_bad_config_is_one_line_error(stopped_instance):
    cfg = stopped_instance.config
    cfg.write_text(cfg.read_text() + "\n[http2]\nport = 1\n")
    out = subprocess.run([str(BIN / "smartproductd"), "--config", str(cfg)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "smartproduct.toml:" in out.stderr and "http2" in out.stderr
    assert "terminate" not in out.stderr and "Traceback" not in out.stderr
    assert stopped_instance.broker_pid() is None


def test_port_in_use_fails_cleanly(stopped_instance):
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("0.0.0.0", stopped_instance.http_port))
        blocker.listen()
        stopped_instance.start(wait_ready=False)
        rc = stopped_instance.proc.wait(timeout=60)
        assert rc == 1
        log = stopped_instance.log()
        assert str(stopped_instance.http_port) in log
        # not half-started: the managed broker it started is gone again
        wait_for(lambda: stopped_instance.broker_pid() is None, 15, "broker stopped")


def test_missing_certificate_fails_cleanly(stopped_instance):
    (stopped_instance.dir / "pki" / "https.crt").unlink()
    stopped_instance.start(wait_ready=False)
    assert stopped_instance.proc.wait(timeout=30) == 1
    assert "[http] cert" in stopped_instance.log()


def test_unwritable_data_dir_fails_cleanly(stopped_instance):
    data = stopped_instance.dir / "data"
    if os.geteuid() == 0:
        # root ignores permission bits: make the path a file instead of a directory
        for p in data.iterdir():
            p.unlink()
        data.rmdir()
        data.write_text("not a directory")
    else:
        data.chmod(0o500)
    stopped_instance.start(wait_ready=False)
    assert stopped_instance.proc.wait(timeout=30) == 1
    assert "data" in stopped_instance.log()


def test_external_broker_mode(stopped_instance):
    inst = stopped_instance
    cfg = inst.config
    cfg.write_text(cfg.read_text().replace('mode = "managed"', 'mode = "external"', 1))
    log = open(inst.dir / "external-broker.log", "wb")
    broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(inst.dir / "broker" / "mosquitto.conf")],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        inst.start()
        assert inst.broker_pid() is None  # the daemon did not start one of its own
        assert inst.stop() == 0
        assert broker.poll() is None, "the daemon must not stop an external broker"
    finally:
        broker.terminate()
        broker.wait(timeout=15)
        log.close()
