"""The telemetry CSV download is streamed (issue 14 item 2): more than 100,000 samples of one device
come back whole, in order, chunked, without the daemon's memory growing by the CSV's size.

The samples are written straight into telemetry.db while the daemon is stopped (publishing 200,000
MQTT messages would test ingest, not the download). Run as a script (`--measure`) it prints the
download's time and the daemon's peak RSS without asserting, for before/after figures."""

from __future__ import annotations

import json
import sqlite3
import sys
import time

import pytest

from harness import Instance
from test_accounts import Api, login
from test_jitr import PASSWORD, Users, add_to_catalog, register

SERIAL = "SN-CSV0"
ROWS = 200_000
STEP_MS = 50


def seed(inst: Instance, owner: str, rows: int = ROWS) -> tuple[int, int]:
    """`rows` samples of SERIAL, the default pipeline's shape, ending an hour ago. Returns the
    range [from, to) that holds them."""
    start = int(time.time() * 1000) - 3_600_000 - rows * STEP_MS
    conn = sqlite3.connect(inst.dir / "data" / "telemetry.db")
    try:
        def row(i: int):
            t = start + i * STEP_MS
            f = round(60 + (i % 400) / 10, 2)
            utc = iso(t)
            payload = {"actualTemperature": f, "targetTemperature": 70, "timestamp": t,
                       "sentAt": "2026-11-27T12:00:00-08:00", "seq": i,
                       "actualTemperatureC": round((f - 32) * 5 / 9, 2), "targetTemperatureC": 21.11,
                       "sentAtUtc": utc, "createdAtUtc": utc}
            return (SERIAL, t, t, json.dumps(payload, separators=(",", ":")), t, owner)
        with conn:
            conn.executemany("INSERT INTO telemetry (device_id, device_ts, received_at, payload, t, "
                             "owner_id) VALUES (?, ?, ?, ?, ?, ?)", (row(i) for i in range(rows)))
    finally:
        conn.close()
    return start, start + rows * STEP_MS


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def download(inst: Instance, token: str, path: str) -> dict:
    """Reads the CSV as it arrives (never whole in this process either) and watches the daemon's
    RSS meanwhile."""
    pid = inst.proc.pid
    try:  # resets VmHWM to the current RSS, so the peak is this download's (Linux >= 4.0)
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    hwm_before = status_kib(pid, "VmHWM")
    rss_before = status_kib(pid, "VmRSS")
    conn = inst.connection(timeout=120)
    began = time.monotonic()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    lines: list[bytes] = []
    size = 0
    rest = b""
    peak_rss = rss_before
    while True:
        piece = resp.read(1 << 16)
        if not piece:
            break
        size += len(piece)
        parts = (rest + piece).split(b"\r\n")
        rest = parts.pop()
        lines.extend(parts)
        peak_rss = max(peak_rss, status_kib(pid, "VmRSS"))
    elapsed = time.monotonic() - began
    conn.close()
    return {"status": resp.status, "headers": headers, "lines": lines, "rest": rest,
            "bytes": size, "seconds": elapsed, "hwm_before_kib": hwm_before,
            "hwm_after_kib": status_kib(pid, "VmHWM"), "rss_before_kib": rss_before,
            "peak_rss_kib": peak_rss}


def prepared_instance() -> tuple[Instance, str, int, int]:
    """A stopped-then-seeded-then-started instance, the owner's token and the seeded range."""
    inst = Instance(jitr=True)
    inst.start()
    api = Api(inst)
    users = Users(api)
    admin = users.add("csv-admin@example.com", admin=True)
    owner = "csv-owner@example.com"
    users.add(owner)
    add_to_catalog(api, admin, (SERIAL,))
    register(api, users.tokens[owner], SERIAL)
    inst.stop()
    begin, end = seed(inst, users.ids[owner])
    inst.start()
    token = login(Api(inst), owner, PASSWORD)[0]["accessToken"]
    return inst, token, begin, end


@pytest.fixture(scope="module")
def prepared():
    inst, token, begin, end = prepared_instance()
    try:
        yield inst, token, begin, end
    finally:
        inst.cleanup()


def test_a_csv_of_more_than_100000_rows_is_streamed_whole(prepared):
    inst, token, begin, end = prepared
    got = download(inst, token, f"/api/devices/{SERIAL}/telemetry.csv?from={begin}&to={end}")
    assert got["status"] == 200
    assert got["headers"].get("transfer-encoding") == "chunked"
    assert "content-length" not in got["headers"]
    assert got["headers"]["content-type"].startswith("text/csv")
    lines, rest = got["lines"], got["rest"]
    assert rest == b"", "the body ends with a complete line"
    assert lines[0] == (b"t,time,actualTemperature,actualTemperatureC,createdAtUtc,sentAt,"
                        b"sentAtUtc,seq,targetTemperature,targetTemperatureC,timestamp")
    assert len(lines) == ROWS + 1
    for i, line in enumerate(lines[1:]):
        cells = line.split(b",")
        t = begin + i * STEP_MS
        assert int(cells[0]) == t and int(cells[7]) == i and int(cells[10]) == t, line
        assert cells[1] == cells[4] == iso(t).encode(), line
    # Bounded memory: the daemon's peak RSS grew by its page caches and one page's buffers
    # (~8 MB), not by the CSV (~30 MB here).
    growth = (got["hwm_after_kib"] - got["hwm_before_kib"]) * 1024
    assert growth < got["bytes"] / 2, (growth, got["bytes"])
    print(f"\n{ROWS} rows, {got['bytes']} bytes in {got['seconds']:.2f} s; daemon VmHWM "
          f"{got['hwm_before_kib']} -> {got['hwm_after_kib']} KiB")


def test_limit_and_validation_still_answer_before_the_body(prepared):
    inst, token, begin, end = prepared
    path = f"/api/devices/{SERIAL}/telemetry.csv"
    # A limit within one page: a plain body with the cursor of the rest.
    status, hdrs, body = inst.request("GET", f"{path}?from={begin}&to={end}&limit=10&fields=seq",
                                      token=token)
    assert status == 200 and hdrs.get("content-length") == str(len(body))
    assert body.decode().split("\r\n")[1:-1] == [
        f"{begin + i * STEP_MS},{iso(begin + i * STEP_MS)},{i}" for i in range(10)]
    assert "x-last-evaluated-key" in hdrs
    status, _, body = inst.request(
        "GET", f"{path}?from={begin}&to={end}&fields=seq&lastevalkey={hdrs['x-last-evaluated-key']}"
               f"&limit=2", token=token)
    assert status == 200 and body.decode().split("\r\n")[1].endswith(",10")
    # A limit beyond one page: streamed, exactly that many rows.
    status, hdrs, body = inst.request("GET", f"{path}?from={begin}&to={end}&limit=4321&fields=seq",
                                      token=token)
    assert status == 200 and hdrs.get("transfer-encoding") == "chunked"
    assert body.count(b"\r\n") == 4322
    # Errors are still JSON with their status (nothing was streamed).
    for query, want in (("from=yesterday", 422), ("limit=0", 422), ("lastevalkey=zzz", 400),
                        (f"from={end}&to={begin}", 422)):
        status, hdrs, body = inst.request("GET", f"{path}?{query}", token=token)
        assert status == want and body["code"] == want, (query, body)
    assert inst.request("GET", path.replace(SERIAL, "NOPE-1"), token=token)[0] == 404


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


if __name__ == "__main__" and "--measure" in sys.argv:
    # Figures for the note: time and the daemon's peak RSS for the download, on whatever
    # SP_BIN_DIR points at (the cap of older builds shows in the row count).
    inst, token, begin, end = prepared_instance()
    try:
        for label, query in (("all rows", ""), ("limit=100000", "&limit=100000")):
            got = download(inst, token, f"/api/devices/{SERIAL}/telemetry.csv?from={begin}"
                                        f"&to={end}{query}")
            print(f"{label}: status {got['status']}, {len(got['lines']) - 1} rows, "
                  f"{got['bytes']} bytes, {got['seconds']:.2f} s, chunked="
                  f"{got['headers'].get('transfer-encoding') == 'chunked'}, VmHWM "
                  f"{got['hwm_before_kib']} -> {got['hwm_after_kib']} KiB, VmRSS "
                  f"{got['rss_before_kib']} -> peak {got['peak_rss_kib']} KiB")
    finally:
        inst.cleanup()
