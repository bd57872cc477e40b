"""Telemetry end to end: a real device (paho, MQTT v5 over mutual TLS with a certificate of a managed
CA, activated by JITR) publishes the seed's telemetry; its owner reads the enriched samples, the
1m/1h/1d rollups (checked against the values sent), the latest values and the CSV over HTTPS.
Ownership: other users get 403, a new owner does not see the previous owner's history. An invalid
[telemetry.pipeline] stops the daemon at start with FILE:LINE:COL."""

from __future__ import annotations

import csv
import io
import json
import time

import paho.mqtt.client as paho
import pytest

from devices import issue_cert
from harness import Instance, running_instance, wait_for  # noqa: F401
from test_accounts import Api
from test_jitr import Users, add_to_catalog, register, wait_status

SERIAL = "SN-T000"


class TelemetryDevice:
    def __init__(self, inst, serial: str, cert=None):
        self.serial = serial
        crt, key = cert or issue_cert(inst, serial)
        self.client = paho.Client(client_id=serial, protocol=paho.MQTTv5)
        self.client.tls_set(ca_certs=str(inst.ca), certfile=str(crt), keyfile=str(key))
        self.client.connect("127.0.0.1", inst.mqtt_port, keepalive=30)
        self.client.loop_start()

    def publish(self, payload: dict) -> None:
        info = self.client.publish(f"smartproduct/telemetry/{self.serial}", json.dumps(payload), qos=1)
        info.wait_for_publish(10)
        assert info.rc == 0

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(jitr=True)


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    admin = u.add("telemetry-admin@example.com", admin=True)
    u.add("alice@example.com")
    u.add("bob@example.com")
    add_to_catalog(api, admin, (SERIAL, "SN-T001"))
    return u


def minute_start(ms: int) -> int:
    return ms // 60000 * 60000


@pytest.fixture(scope="module")
def sent(inst, api, users):
    """The seed's payloads, published by alice's device: 30 samples, 2 s apart (device time), in
    the two minutes before the current one."""
    alice = users.tokens["alice@example.com"]
    register(api, alice, SERIAL)
    d = TelemetryDevice(inst, SERIAL)
    wait_status(api, alice, SERIAL, "complete")
    base = minute_start(int(time.time() * 1000)) - 120000  # all in the past
    out = []
    for i in range(30):
        m = {"createdAt": "2019-05-01T12:43:07-07:00", "deviceId": SERIAL,
             "actualTemperature": 60 + i * 0.75, "targetTemperature": 70 + (i % 3),
             "sentAt": "2019-05-01T12:43:07-07:00", "timestamp": base + i * 4000}
        d.publish(m)
        out.append(m)
    # Acknowledged means committed; the owner sees them at once.
    wait_for(lambda: raw_count(api, alice, base) == 30, 10,
             f"30 samples stored (admin sees {raw_count(api, users.tokens['telemetry-admin@example.com'], base)})")
    yield base, out
    d.close()


def raw_count(api, token, base):
    status, _, body = api("GET", f"/api/devices/{SERIAL}/telemetry?from={base}&limit=1000", token=token)
    assert status == 200, body
    return body["Count"]


def c(f: float) -> float:
    return float(f"{(f - 32) * 5 / 9:.2f}")


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def test_raw_samples_are_the_enriched_messages(api, users, sent):
    alice = users.tokens["alice@example.com"]
    base, msgs = sent
    status, _, body = api("GET", f"/api/devices/{SERIAL}/telemetry?from={base}&interval=raw&limit=1000",
                          token=alice)
    assert status == 200, body
    assert body["deviceId"] == SERIAL and body["interval"] == "raw"
    assert [p["t"] for p in body["points"]] == [m["timestamp"] for m in msgs]
    for p, m in zip(body["points"], msgs):
        assert p["actualTemperatureC"] == c(m["actualTemperature"])
        assert p["targetTemperatureC"] == c(m["targetTemperature"])
        assert p["sentAtUtc"] == p["createdAtUtc"] == iso(m["timestamp"])
        assert p["actualTemperature"] == m["actualTemperature"]

    # Paging: 7 at a time, every sample once.
    seen, key = [], None
    while True:
        q = f"/api/devices/{SERIAL}/telemetry?from={base}&limit=7&fields=actualTemperature"
        status, _, page = api("GET", q + (f"&lastevalkey={key}" if key else ""), token=alice)
        assert status == 200, page
        assert all(set(p) == {"t", "actualTemperature"} for p in page["points"])
        seen += [p["t"] for p in page["points"]]
        key = page.get("LastEvaluatedKey")
        if not key:
            break
    assert seen == [m["timestamp"] for m in msgs]


def test_rollups_agree_with_the_samples_sent(api, users, sent):
    alice = users.tokens["alice@example.com"]
    base, msgs = sent
    for interval, width in (("1m", 60000), ("1h", 3600000), ("1d", 86400000)):
        status, _, body = api(
            "GET", f"/api/devices/{SERIAL}/telemetry?from={base}&interval={interval}"
                   f"&fields=actualTemperature,targetTemperatureC&agg=avg,min,max,count,first,last,sum",
            token=alice)
        assert status == 200, body
        buckets: dict[int, list[dict]] = {}
        for m in msgs:
            buckets.setdefault(m["timestamp"] // width * width, []).append(m)
        assert [p["t"] for p in body["points"]] == sorted(buckets)
        for p in body["points"]:
            group = buckets[p["t"]]
            a = [m["actualTemperature"] for m in group]
            got = p["actualTemperature"]
            assert got["count"] == len(a)
            assert got["min"] == min(a) and got["max"] == max(a)
            assert got["first"] == a[0] and got["last"] == a[-1]
            assert abs(got["sum"] - sum(a)) < 1e-9
            assert abs(got["avg"] - sum(a) / len(a)) < 1e-9
            tc = [c(m["targetTemperature"]) for m in group]
            assert p["targetTemperatureC"]["count"] == len(tc)
            assert abs(p["targetTemperatureC"]["sum"] - sum(tc)) < 1e-9


def test_latest_and_csv(api, users, inst, sent):
    alice = users.tokens["alice@example.com"]
    base, msgs = sent
    status, _, body = api("GET", f"/api/devices/{SERIAL}/telemetry/latest", token=alice)
    assert status == 200, body
    assert body["t"] == msgs[-1]["timestamp"]
    assert body["fields"]["actualTemperature"] == {"value": msgs[-1]["actualTemperature"],
                                                   "t": msgs[-1]["timestamp"]}
    status, hdrs, raw = api("GET", f"/api/devices/{SERIAL}/telemetry.csv?from={base}"
                                   f"&fields=actualTemperature,actualTemperatureC", token=alice)
    assert status == 200
    assert hdrs["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(raw.decode())))
    assert rows[0] == ["t", "time", "actualTemperature", "actualTemperatureC"]
    assert len(rows) == 31
    assert rows[1] == [str(msgs[0]["timestamp"]), iso(msgs[0]["timestamp"]),
                       json.dumps(msgs[0]["actualTemperature"]), json.dumps(c(msgs[0]["actualTemperature"]))]


def test_ownership_and_validation(api, users, sent):
    alice, bob = users.tokens["alice@example.com"], users.tokens["bob@example.com"]
    admin = users.tokens["telemetry-admin@example.com"]
    base, _ = sent
    for path in (f"/api/devices/{SERIAL}/telemetry", f"/api/devices/{SERIAL}/telemetry/latest",
                 f"/api/devices/{SERIAL}/telemetry.csv"):
        assert api("GET", path, token=bob)[0] == 403
        assert api("GET", path)[0] == 401
        assert api("GET", path.replace(SERIAL, "NOPE-1"), token=alice)[0] == 404
        assert api("GET", path, token=admin)[0] == 200
    t = f"/api/devices/{SERIAL}/telemetry"
    for query in ("interval=5m", f"from={base}&to={base}", f"from={base + 10}&to={base}",
                  "from=yesterday", "to=2026-13-01T00:00:00Z", "agg=median",
                  "interval=1m&from=0&to=86400000000", "fields=a;b", "limit=0", "limit=1001",
                  "interval=1h&limit=10001"):
        status, _, body = api("GET", f"{t}?{query}", token=alice)
        assert status == 422, (query, body)
    assert api("GET", f"{t}?lastevalkey=zzz", token=alice)[0] == 400
    assert api("GET", f"{t}?interval=1m&lastevalkey=eyJ0IjoxLCJpIjoyfQ", token=alice)[0] == 400


def test_a_new_owner_does_not_see_the_previous_owners_history(inst, api, users, sent):
    alice, bob = users.tokens["alice@example.com"], users.tokens["bob@example.com"]
    admin = users.tokens["telemetry-admin@example.com"]
    base, msgs = sent
    status, _, body = api("DELETE", f"/api/devices/{SERIAL}", token=alice)
    assert status in (200, 204), body
    register(api, bob, SERIAL)
    d = TelemetryDevice(inst, SERIAL, issue_cert(inst, SERIAL, out="devices-bob"))
    try:
        wait_status(api, bob, SERIAL, "complete")
        ts = minute_start(int(time.time() * 1000)) + 1
        d.publish({"actualTemperature": 99, "timestamp": ts})
        wait_for(lambda: raw_count(api, bob, base) == 1, 10, "bob's sample")
    finally:
        d.close()
    status, _, body = api("GET", f"/api/devices/{SERIAL}/telemetry?from={base}", token=bob)
    assert [p["actualTemperature"] for p in body["points"]] == [99]
    status, _, body = api("GET", f"/api/devices/{SERIAL}/telemetry?from={base}&interval=1h"
                                 f"&fields=actualTemperature&agg=count", token=bob)
    assert sum(p["actualTemperature"]["count"] for p in body["points"]) == 1
    status, _, body = api("GET", f"/api/devices/{SERIAL}/telemetry/latest", token=bob)
    assert body["fields"]["actualTemperature"]["value"] == 99
    assert "targetTemperature" not in body["fields"]  # alice's attribute, not bob's
    # Administrators see both owners' samples.
    status, _, body = api("GET", f"/api/devices/{SERIAL}/telemetry?from={base}&limit=1000", token=admin)
    assert body["Count"] == len(msgs) + 1


def test_invalid_pipeline_is_a_startup_error_with_position():
    i = Instance()
    try:
        text = i.config.read_text()
        text += '\n[telemetry.pipeline]\nactivities = [\n  "math c = round(t,",\n]\n'
        i.config.write_text(text)
        line = text.splitlines().index('  "math c = round(t,",') + 1
        i.start(wait_ready=False)
        wait_for(lambda: i.proc.poll() is not None, 20, "the daemon refuses the config")
        assert i.proc.returncode != 0
        # The text starts at column 4 (after the quote); the error is at its end (offset 17).
        assert f"smartproduct.toml:{line}:21: [telemetry.pipeline] activities:" in i.log(), i.log()
    finally:
        i.cleanup()
