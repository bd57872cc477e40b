"""Issue 10 finding 9: /metrics is not public on the API listener. Loopback clients may read it
(a local Prometheus); any other address needs `Authorization: Bearer <[metrics] token>`. The
daemon listens on every address here and the test connects through this machine's own
non-loopback address, so the server really sees a remote peer."""

from __future__ import annotations

import http.client
import socket

import pytest

from harness import running_instance

TOKEN = "m" * 48


def non_loopback_address() -> str | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
        address = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if address.startswith("127.") else address


ADDRESS = non_loopback_address()


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(settings={"http": {"listen": "0.0.0.0"}, "metrics": {"token": TOKEN}})


def get_metrics(inst, host: str, headers: dict | None = None):
    ctx = inst.ssl_context()
    ctx.check_hostname = False  # the certificate names localhost; the chain is still verified
    conn = http.client.HTTPSConnection(host, inst.http_port, timeout=10, context=ctx)
    try:
        conn.request("GET", "/metrics", headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.mark.skipif(ADDRESS is None, reason="this machine has no non-loopback IPv4 address")
def test_remote_clients_need_the_token(inst):
    status, headers, body = get_metrics(inst, ADDRESS)
    assert status == 401, body
    assert b'"Unauthorized"' in body and "www-authenticate" in headers
    assert get_metrics(inst, ADDRESS, {"Authorization": "Bearer " + "x" * 48})[0] == 401
    status, _, body = get_metrics(inst, ADDRESS, {"Authorization": "Bearer " + TOKEN})
    assert status == 200 and b"smartproduct_" in body


def test_loopback_clients_read_it_without_a_token(inst):
    status, _, body = get_metrics(inst, "127.0.0.1")
    assert status == 200 and b"smartproduct_" in body


def test_a_short_token_is_a_config_error(tmp_path):
    from harness import Instance
    i = Instance(settings={"metrics": {"token": "short"}})
    try:
        i.start(wait_ready=False)
        i.proc.wait(timeout=30)
        assert i.proc.returncode != 0
        assert "[metrics] token" in i.log() or "token: must be at least 32" in i.log()
    finally:
        i.cleanup()
