"""Datasets end to end (issue 14 item 4): real devices publish the seed's telemetry over MQTT with
mutual TLS; an admin defines datasets in the SQL subset, runs them through the REST API (and
`smartproductctl dataset run`), downloads the CSV / JSON Lines files and checks them against values
computed here from what was published. Runs are incremental: a second run holds only what arrived
since the first. Also: the seed's default dataset, a scheduled run, retention of run files, the
errors (bad query with its column, duplicate, types, unknown, non-admin), and that a query's text
never reaches SQLite as SQL."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import time

import pytest

from harness import BIN, running_instance, wait_for  # noqa: F401
from test_accounts import Api
from test_jitr import Users, add_to_catalog, register, wait_status
from test_telemetry import TelemetryDevice

SERIALS = ("SN-DS00", "SN-DS01")
ADMIN = "datasets-admin@example.com"
OWNER = "datasets-owner@example.com"


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(jitr=True)


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    admin = u.add(ADMIN, admin=True)
    u.add(OWNER)
    add_to_catalog(api, admin, SERIALS)
    return u


class Devices(dict):
    """The live devices by serial, with the API and the owner's token to check what is stored."""


@pytest.fixture(scope="module")
def devices(inst, api, users):
    owner = users.tokens[OWNER]
    out = Devices()
    out.api, out.token = api, owner
    for serial in SERIALS:
        register(api, owner, serial)
        out[serial] = TelemetryDevice(inst, serial)
        wait_status(api, owner, serial, "complete")
    yield out
    for d in out.values():
        d.close()


def c(f: float) -> float:
    return float(f"{(f - 32) * 5 / 9:.2f}")


PUBLISHED: dict[str, int] = {}


def stored(api, token, serial: str) -> int:
    since = int(time.time() * 1000) - 3_600_000
    status, _, body = api("GET", f"/api/devices/{serial}/telemetry?from={since}&limit=1000",
                          token=token)
    assert status == 200, body
    return body["Count"]


def publish(devices, serial: str, temps: list[float], api=None, token=None) -> list[dict]:
    """Seed-shaped messages. Acknowledged means in the broker's spool; the daemon commits them
    to telemetry.db a moment later, so this waits until they are readable."""
    sent = []
    now = int(time.time() * 1000)
    for i, f in enumerate(temps):
        m = {"deviceId": serial, "actualTemperature": f, "targetTemperature": 70,
             "sentAt": "2019-05-01T12:43:07-07:00", "timestamp": now - 60_000 + i}
        devices[serial].publish(m)
        sent.append(m)
    PUBLISHED[serial] = PUBLISHED.get(serial, 0) + len(sent)
    want = PUBLISHED[serial]
    wait_for(lambda: stored(devices.api, devices.token, serial) >= want, 15,
             f"{want} samples of {serial} stored")
    return sent


def run_and_wait(api, token, name: str, timeout: float = 30) -> dict:
    status, hdrs, body = api("POST", f"/api/admin/datasets/{name}/run", token=token)
    assert status == 202, body
    run_id = body["runId"]
    assert hdrs["location"] == f"/api/admin/datasets/{name}/contents/{run_id}"
    result = {}

    def finished():
        s, _, r = api("GET", f"/api/admin/datasets/{name}/contents/{run_id}", token=token)
        assert s == 200, r
        result.update(r)
        return r["status"] != "running"
    wait_for(finished, timeout, f"run {run_id} of {name} finished")
    assert result["status"] == "succeeded", result
    return result


def download(inst, token, run: dict) -> tuple[int, dict, bytes]:
    status, hdrs, body = inst.request("GET", run["downloadUrl"], token=token)
    return status, hdrs, body if isinstance(body, bytes) else json.dumps(body).encode()


def csv_rows(body: bytes) -> list[dict]:
    text = body.decode()
    assert text.endswith("\r\n") or text == ""
    return list(csv.DictReader(io.StringIO(text)))


def create(api, token, body: dict, want: int = 201):
    status, hdrs, got = api("POST", "/api/admin/datasets", body=body, token=token)
    assert status == want, got
    return got


def test_a_scheduled_dataset_runs_by_itself(inst, api, users, devices):
    """Defined first, checked last (test_zz...): a rate(1 minute) dataset runs on the minute."""
    admin = users.tokens[ADMIN]
    d = create(api, admin, {"name": "every-minute", "query": "SELECT deviceId, t FROM telemetry",
                            "schedule": "rate(1 minute)", "format": "jsonl"})
    assert d["enabled"] is True and d["lastRun"] is None
    next_run = d["nextRunAt"]
    # The next whole minute, UTC.
    now = time.time()
    assert next_run.endswith(":00.000Z")
    assert 0 < time.mktime(time.strptime(next_run[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone - now <= 61


def test_the_seeds_dataset_exists_and_runs_incrementally(inst, api, users, devices):
    admin = users.tokens[ADMIN]
    status, _, body = api("GET", "/api/admin/datasets", token=admin)
    assert status == 200
    seed = next(d for d in body["Items"] if d["name"] == "smartproduct_dataset")
    assert seed["query"] == "SELECT * FROM telemetry"
    assert seed["schedule"] == "rate(1 hour)" and seed["format"] == "csv" and seed["enabled"]
    assert seed["nextRunAt"].endswith(":00:00.000Z"), seed  # on the hour

    temps = [60.5, 61.25, 72.0, 33.8]
    sent = publish(devices, SERIALS[0], temps)
    first = run_and_wait(api, admin, "smartproduct_dataset")
    assert first["trigger"] == "manual" and first["fromRow"] == 0
    status, hdrs, body = download(inst, admin, first)
    assert status == 200 and hdrs["content-type"].startswith("text/csv")
    assert "attachment" in hdrs["content-disposition"]
    rows = csv_rows(body)
    assert len(rows) == first["rows"] >= len(sent)
    header = list(rows[0].keys())
    assert header[:3] == ["deviceId", "t", "receivedAt"] and header == first["columns"]
    # The default pipeline's fields (the seed's transform) are columns of the CSV.
    for col in ("actualTemperatureC", "targetTemperatureC", "sentAtUtc", "createdAtUtc"):
        assert col in header
    mine = [r for r in rows if r["deviceId"] == SERIALS[0]][-len(sent):]
    for m, r in zip(sent, mine):
        assert float(r["actualTemperature"]) == m["actualTemperature"]
        assert float(r["actualTemperatureC"]) == c(m["actualTemperature"])
        assert int(r["t"]) == m["timestamp"]

    # Nothing new: the next run is empty (a header only).
    second = run_and_wait(api, admin, "smartproduct_dataset")
    assert second["rows"] == 0 and second["fromRow"] == first["toRow"] == second["toRow"]
    status, _, body = download(inst, admin, second)
    assert status == 200 and body.count(b"\r\n") == 1

    # Three more: the third run holds exactly those.
    more = publish(devices, SERIALS[1], [50.0, 51.5, 99.9])
    third = run_and_wait(api, admin, "smartproduct_dataset")
    assert third["rows"] == 3 and third["fromRow"] == first["toRow"]
    rows = csv_rows(download(inst, admin, third)[2])
    assert [float(r["actualTemperatureC"]) for r in rows] == [c(m["actualTemperature"]) for m in more]
    assert {r["deviceId"] for r in rows} == {SERIALS[1]}

    # The list shows the runs newest first, paged.
    status, _, page = api("GET", "/api/admin/datasets/smartproduct_dataset/contents?limit=2",
                          token=admin)
    assert status == 200 and [r["id"] for r in page["Items"]] == [third["id"], second["id"]]
    status, _, rest = api("GET", "/api/admin/datasets/smartproduct_dataset/contents?limit=2"
                                 f"&lastevalkey={page['LastEvaluatedKey']}", token=admin)
    assert status == 200 and rest["Items"][0]["id"] == first["id"]


def test_an_aggregate_query_as_json_lines(inst, api, users, devices):
    admin = users.tokens[ADMIN]
    create(api, admin, {
        "name": "per-device",
        "query": "SELECT deviceId, count(*) AS n, round(avg(actualTemperatureC), 2) AS avgC, "
                 "max(actualTemperature) AS maxF FROM telemetry WHERE actualTemperature >= 40 "
                 "GROUP BY deviceId ORDER BY deviceId",
        "format": "jsonl"})
    run_and_wait(api, admin, "per-device")  # whatever came before: not this test's
    a = publish(devices, SERIALS[0], [41.0, 80.5, 10.0])   # 10.0 is filtered out
    b = publish(devices, SERIALS[1], [70.25])
    run = run_and_wait(api, admin, "per-device")
    status, hdrs, body = download(inst, admin, run)
    assert status == 200 and hdrs["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in body.decode().splitlines()]
    assert run["columns"] == ["deviceId", "n", "avgC", "maxF"] and run["rows"] == 2

    def expect(msgs):
        kept = [m["actualTemperature"] for m in msgs if m["actualTemperature"] >= 40]
        cs = [c(f) for f in kept]
        return {"n": len(kept), "avgC": round(sum(cs) / len(cs), 2), "maxF": max(kept)}
    assert lines == [{"deviceId": SERIALS[0], **expect(a)}, {"deviceId": SERIALS[1], **expect(b)}]


def test_bad_definitions_are_refused_with_clear_errors(inst, api, users, devices):
    admin = users.tokens[ADMIN]
    owner = users.tokens[OWNER]
    # A bad query names its column.
    got = create(api, admin, {"name": "bad", "query": "SELECT deviceId, frob(t) FROM telemetry"}, 422)
    assert got["error"] == "InvalidDatasetQuery" and "column 18" in got["message"], got
    for query, words in (("SELECT * FROM devices", "only table is telemetry"),
                         ("SELECT t FROM telemetry WHERE count(*) > 1", "aggregate"),
                         ("SELECT t FROM telemetry; DROP TABLE telemetry", "unexpected text"),
                         ("SELECT sum(avg(t)) FROM telemetry", "nested"),
                         ("SELECT " + "(" * 100 + "t" + ")" * 100 + " FROM telemetry", "nested deeper"),
                         ("SELECT 'open FROM telemetry", "unterminated"),
                         ("", "expected SELECT")):
        got = create(api, admin, {"name": "bad", "query": query}, 422)
        assert got["error"] == "InvalidDatasetQuery" and words in got["message"], (query, got)
    for body, status, name in (
            ({"name": "x", "query": "SELECT t FROM telemetry", "schedule": "hourly"}, 422, "InvalidParameter"),
            ({"name": "x", "query": "SELECT t FROM telemetry", "schedule": "cron(61 * * * *)"}, 422, "InvalidParameter"),
            ({"name": "x", "query": "SELECT t FROM telemetry", "format": "xml"}, 422, "InvalidParameter"),
            ({"name": "x", "query": "SELECT t FROM telemetry", "retentionDays": 0}, 422, "InvalidParameter"),
            ({"name": "x", "query": "SELECT t FROM telemetry", "retentionDays": "7"}, 400, "InvalidField"),
            ({"name": "x", "query": 5}, 400, "InvalidField"),
            ({"name": "x", "query": "SELECT t FROM telemetry", "enabled": "yes"}, 400, "InvalidField"),
            ({"name": "x", "query": "SELECT t FROM telemetry", "schedul": "off"}, 400, "InvalidField"),
            ({"name": "../etc", "query": "SELECT t FROM telemetry"}, 422, "InvalidParameter"),
            ({"query": "SELECT t FROM telemetry"}, 422, "MissingField"),
            ({"name": "x"}, 422, "MissingField"),
            ({"name": "per-device", "query": "SELECT t FROM telemetry"}, 409, "DatasetExists")):
        got = create(api, admin, body, status)
        assert got["error"] == name, (body, got)
    status, _, got = api("POST", "/api/admin/datasets", body="{nope", token=admin,
                         headers={"Content-Type": "application/json"})
    assert status == 400 and got["error"] == "InvalidJson"
    # Nothing half-made: none of the refused names exists.
    status, _, body = api("GET", "/api/admin/datasets", token=admin)
    assert {d["name"] for d in body["Items"]} >= {"smartproduct_dataset", "per-device"}
    assert not {"bad", "x", "../etc"} & {d["name"] for d in body["Items"]}
    # Unknown names and runs; non-admins; no token.
    assert api("GET", "/api/admin/datasets/nope", token=admin)[2]["error"] == "DatasetNotFound"
    assert api("POST", "/api/admin/datasets/nope/run", token=admin)[0] == 404
    assert api("GET", "/api/admin/datasets/per-device/contents/999999", token=admin)[0] == 404
    assert api("GET", "/api/admin/datasets/per-device/contents/abc/download", token=admin)[0] == 404
    assert api("GET", "/api/admin/datasets", token=owner)[0] == 403
    assert api("POST", "/api/admin/datasets/per-device/run", token=owner)[0] == 403
    assert api("GET", "/api/admin/datasets")[0] == 401
    assert api("PUT", "/api/admin/datasets/per-device", body={"format": 1}, token=admin)[0] == 400
    assert api("PUT", "/api/admin/datasets/per-device", body={"query": "SELECT"}, token=admin)[0] == 422


def test_query_text_is_never_sql(inst, api, users, devices):
    """Literals and names are bound parameters: quotes and SQL in them are just text."""
    admin = users.tokens[ADMIN]
    create(api, admin, {
        "name": "literal",
        "query": "SELECT deviceId, 'x''); DROP TABLE telemetry; --' AS s, \"a'b\" AS odd, "
                 "iso(t) AS time, bucket(t, '1h') AS hour FROM telemetry "
                 "WHERE deviceId IN ('SN-DS00', 'x'' OR 1=1 --') LIMIT 2",
        "format": "csv"})
    run = run_and_wait(api, admin, "literal")
    rows = csv_rows(download(inst, admin, run)[2])
    assert 1 <= len(rows) <= 2 and {r["deviceId"] for r in rows} == {SERIALS[0]}
    assert rows[0]["s"] == "x'); DROP TABLE telemetry; --" and rows[0]["odd"] == ""
    assert rows[0]["time"].endswith("Z") and int(rows[0]["hour"]) % 3_600_000 == 0
    db = sqlite3.connect(inst.dir / "data" / "telemetry.db")
    try:
        assert db.execute("SELECT count(*) FROM telemetry").fetchone()[0] > 0
    finally:
        db.close()


def test_cli_run_update_retention_and_delete(inst, api, users, devices):
    admin = users.tokens[ADMIN]
    create(api, admin, {"name": "cli-set", "query": "SELECT deviceId, actualTemperature FROM telemetry",
                        "format": "csv", "retentionDays": 1})
    sent = publish(devices, SERIALS[1], [55.5])  # at least this row, whatever ran before
    out = inst.dir / "cli-out.csv"
    cfg = inst.config
    proc = subprocess.run([str(BIN / "smartproductctl"), "dataset", "run", "cli-set", "--out", str(out),
                           "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    first_rows = csv_rows(out.read_bytes())
    assert first_rows[-1] == {"deviceId": SERIALS[1], "actualTemperature": str(sent[0]["actualTemperature"])}
    assert f"{len(first_rows)} rows" in proc.stderr
    status, _, body = api("GET", "/api/admin/datasets/cli-set/contents", token=admin)
    cli_run = body["Items"][0]
    assert cli_run["trigger"] == "cli" and cli_run["rows"] == len(first_rows)
    proc = subprocess.run([str(BIN / "smartproductctl"), "dataset", "run", "nope", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "No such dataset" in proc.stderr
    listing = subprocess.run([str(BIN / "smartproductctl"), "dataset", "list", "--config", str(cfg)],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and "cli-set" in listing.stdout

    # A changed query applies from the next window on; the watermark stays.
    status, _, d = api("PUT", "/api/admin/datasets/cli-set",
                       body={"query": "SELECT deviceId, count(*) AS n FROM telemetry GROUP BY deviceId",
                             "schedule": "cron(0 3 * * *)"}, token=admin)
    assert status == 200 and d["schedule"] == "cron(0 3 * * *)" and d["nextRunAt"].endswith("T03:00:00.000Z")
    publish(devices, SERIALS[0], [65.0, 66.0])
    run = run_and_wait(api, admin, "cli-set")
    assert run["fromRow"] == cli_run["toRow"]
    assert csv_rows(download(inst, admin, run)[2]) == [{"deviceId": SERIALS[0], "n": "2"}]

    # Retention: a run older than the dataset's retentionDays goes, file and all, at the next run.
    main = sqlite3.connect(inst.dir / "data" / "smartproduct.db", timeout=10)
    try:
        with main:
            main.execute("UPDATE dataset_runs SET started_at = started_at - 2 * 86400000 WHERE id = ?",
                         (cli_run["id"],))
    finally:
        main.close()
    old_file = inst.dir / "data" / "datasets" / "cli-set" / f"{cli_run['id']}.csv"
    assert old_file.exists()
    run_and_wait(api, admin, "cli-set")
    wait_for(lambda: not old_file.exists(), 10, "the expired run's file deleted")
    assert api("GET", f"/api/admin/datasets/cli-set/contents/{cli_run['id']}", token=admin)[0] == 404

    # Delete: the dataset, its runs and its folder.
    folder = inst.dir / "data" / "datasets" / "cli-set"
    assert folder.is_dir()
    status, _, _ = api("DELETE", "/api/admin/datasets/cli-set", token=admin)
    assert status == 204 and not folder.exists()
    assert api("GET", "/api/admin/datasets/cli-set", token=admin)[0] == 404
    assert api("DELETE", "/api/admin/datasets/cli-set", token=admin)[0] == 404


def test_zz_the_scheduled_dataset_ran(inst, api, users, devices):
    admin = users.tokens[ADMIN]

    def ran():
        status, _, body = api("GET", "/api/admin/datasets/every-minute/contents", token=admin)
        return status == 200 and any(r["trigger"] == "scheduled" and r["status"] == "succeeded"
                                     for r in body["Items"])
    wait_for(ran, 75, "a scheduled run of every-minute", interval=1)
    status, _, d = api("GET", "/api/admin/datasets/every-minute", token=admin)
    assert d["lastRun"]["trigger"] == "scheduled"
    rows = [json.loads(x) for x in download(inst, admin, d["lastRun"])[2].decode().splitlines()]
    assert rows and set(rows[0]) == {"deviceId", "t"}
