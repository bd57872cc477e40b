"""Issue 16 item 6: /metrics is what an operator with Prometheus expects. A real instance (broker,
plugin, daemon over TLS) with [log] format = "json" answers a few requests and stores a few device
messages; then one scrape is checked line by line (tests/integration/prometheus_text.py, and
`promtool check metrics` when it is installed) and the expected families must be there with sane
values: request histograms by route pattern (never a raw path), the store writer's commit
histogram, queues, broker connection, devices, SQLite file sizes, process metrics. Every line the
daemon logged must parse as one JSON object."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest

from harness import ROOT, running_instance, wait_for
from prometheus_text import Exposition
from test_telemetry import TelemetryDevice

SERIAL = "SN-METRICS-1"


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(settings={"log": {"format": "json"}})


def scrape(inst) -> tuple[str, Exposition]:
    status, headers, body = inst.request("GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    return text, Exposition(text)


def test_checker_catches_broken_expositions():
    # The scrape test below is only worth something if the checker fails on what it checks.
    assert not Exposition("# TYPE a_total counter\na_total 1\n").problems
    for broken in ["# TYPE requests counter\nrequests 1\n",
                   "# TYPE q_total gauge\nq_total 1\n",
                   "# TYPE commit_ms gauge\ncommit_ms 1\n",
                   "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                   "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
                   "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
                   "g 1\n"]:
        assert Exposition(broken).problems, broken


def test_scrape_after_requests_and_device_messages(inst):
    for _ in range(3):
        assert inst.status("/healthz") == 200
    assert inst.status("/api/openapi.json") == 200
    assert inst.status(f"/api/devices/{SERIAL}") == 401
    assert inst.status("/api/no/such/route") == 404

    device = TelemetryDevice(inst, SERIAL)
    try:
        for i in range(5):
            device.publish({"actualTemperature": 20 + i, "timestamp": int(time.time() * 1000)})
        wait_for(lambda: (scrape(inst)[1].value("smartproduct_ingest_stored_total",
                                                 path="telemetry") or 0) >= 5, 20,
                 "five telemetry messages stored")
        wait_for(lambda: scrape(inst)[1].value("smartproduct_devices_connected") == 1, 20,
                 "the device counted as connected")
        text, m = scrape(inst)
    finally:
        device.close()

    assert m.problems == [], "\n".join(m.problems)
    promtool = shutil.which("promtool")
    if promtool:  # not a dependency (the Debian package is the whole Prometheus server)
        out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stdout + out.stderr

    # HTTP: per route pattern, method and status class; bounded labels, never the raw path.
    h = "smartproduct_http_request_duration_seconds"
    assert m.families[h]["type"] == "histogram"
    assert m.value(h, h + "_count", route="/healthz", method="GET", status="2xx") >= 3
    assert m.value(h, h + "_count", route="/api/openapi.json", method="GET", status="2xx") == 1
    assert m.value(h, h + "_count", route="unmatched", method="GET", status="4xx") >= 1
    routes = m.labels(h, "route")
    assert any(r.startswith("/api/devices/{") for r in routes), routes
    assert not any(SERIAL in r or "no/such" in r for r in routes), routes
    assert m.value(h, h + "_sum", route="/healthz", method="GET", status="2xx") > 0

    # Ingest: the store writer's batch commits, per database.
    c = "smartproduct_db_batch_commit_duration_seconds"
    assert m.families[c]["type"] == "histogram"
    assert m.value(c, c + "_count", db="telemetry") >= 1
    assert m.value(c, c + "_count", db="main") >= 1
    assert m.value("smartproduct_db_transactions_total", db="telemetry") >= 1

    # Queues.
    for db in ("main", "telemetry"):
        assert m.value("smartproduct_db_write_queue_jobs", db=db) >= 0
        assert m.value("smartproduct_db_file_size_bytes", db=db, file="db") > 0
        assert m.value("smartproduct_db_file_size_bytes", db=db, file="wal") >= 0
    assert m.value("smartproduct_notification_outbox_rows") >= 0
    assert m.value("smartproduct_notification_deliveries_pending") >= 0
    assert m.value("smartproduct_websocket_send_queue_messages") == 0
    assert m.value("smartproduct_websocket_send_queue_max_messages") == 0
    if m.value("smartproduct_ingest_source_spool") == 1:
        assert m.value("smartproduct_spool_lag_bytes") >= 0

    # Broker connection and devices.
    assert m.value("smartproduct_mqtt_connected", connection="main") == 1
    assert m.value("smartproduct_mqtt_connects_total", connection="main") >= 1
    assert m.value("smartproduct_mqtt_reconnects_total", connection="main") == 0
    assert m.value("smartproduct_devices_connected") == 1

    # The process, from /proc.
    assert 0 < m.value("process_cpu_seconds_total") < 3600
    assert 1e6 < m.value("process_resident_memory_bytes") < 4e9
    assert 5 <= m.value("process_open_fds") <= m.value("process_max_fds")
    assert abs(m.value("process_start_time_seconds") - time.time()) < 600

    # Every metric the Grafana dashboard queries exists (the spool's only with the spool source).
    dashboard = (ROOT / "docker" / "grafana" / "smartproduct-dashboard.json").read_text()
    used = set(re.findall(r"\b((?:smartproduct|process)_[a-z0-9_]+)", dashboard))
    for name in sorted(used):
        family = re.sub(r"_(bucket|count|sum)$", "", name) if name.startswith(h) or name.startswith(c) else name
        if family.startswith("smartproduct_spool_") and m.value("smartproduct_ingest_source_spool") != 1:
            continue
        assert family in m.families, f"the dashboard uses {name}, the scrape has no {family}"

    # Counters go up, never down, between scrapes.
    assert inst.status("/healthz") == 200
    later = scrape(inst)[1]
    assert later.value(h, h + "_count", route="/healthz", method="GET", status="2xx") > \
        m.value(h, h + "_count", route="/healthz", method="GET", status="2xx")


def test_json_log_lines_parse(inst):
    inst.request("GET", "/api/devices", headers={"X-Request-Id": "metrics-json-test"})
    lines = [l for l in inst.log().splitlines() if l.strip()]
    assert len(lines) >= 3, inst.log()
    for line in lines:
        entry = json.loads(line)  # fails the test on any line that is not one JSON object
        assert isinstance(entry, dict), line
        assert {"ts", "level", "logger", "msg"} <= entry.keys(), line
        assert entry["ts"].endswith("Z"), line
    assert any("ready: console https://" in json.loads(l)["msg"] for l in lines)
