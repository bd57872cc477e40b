"""Behaviour detection end to end (issue 15 item 2): a real instance whose broker plugin reports
per-device behaviour every 300 ms, security profiles set over the API, devices publishing over
mutual TLS. A device that floods past a static threshold is alerted and quarantined: its telemetry
gets PUBACK 0x87 while its shadow still works, until an admin releases it; the violation clears once
the device is back to normal. A statistical rule learns a device's own rate and fires on a 10×
burst. Profiles are validated field by field."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from devices import issue_cert, publish, tls_args
from harness import Instance, wait_for
from test_accounts import Api
from test_jitr import Users

ADMIN = "detect-admin@example.com"
ADMIN2 = "detect-admin2@example.com"
USER = "detect-user@example.com"
REPORT_MS = 300


@pytest.fixture(scope="module")
def inst():
    i = Instance()
    try:
        conf = i.dir / "broker" / "mosquitto.conf"
        text = conf.read_text()
        assert "plugin_opt_behaviour_interval_ms 10000" in text
        conf.write_text(text.replace("plugin_opt_behaviour_interval_ms 10000",
                                     f"plugin_opt_behaviour_interval_ms {REPORT_MS}"))
        i.start()
        yield i
    finally:
        i.cleanup()


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    u.add(ADMIN, admin=True)
    u.add(ADMIN2, admin=True)
    u.add(USER)
    return u


def put_profiles(api, users, profiles, expect=200):
    status, _, body = api("PUT", "/api/admin/security-profiles", {"profiles": profiles},
                          token=users.tokens[ADMIN])
    assert status == expect, body
    return body


def violations(api, users, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    status, _, body = api("GET", f"/api/admin/security-violations?{q}", token=users.tokens[ADMIN])
    assert status == 200, body
    return body["Items"]


def flood(inst, serial, lines, per_batch=None, every=None, offset=0.1):
    """One mosquitto_pub connection publishing `lines` telemetry messages (QoS 1): all at once, or
    `per_batch` at `offset` s after each wall-clock multiple of `every` s."""
    crt, key = inst.dir / "devices" / f"{serial}.crt", inst.dir / "devices" / f"{serial}.key"
    proc = subprocess.Popen(["mosquitto_pub", "-V", "mqttv5", "-q", "1", "-i", serial, "-l", "-t",
                             f"smartproduct/telemetry/{serial}"] + tls_args(inst, crt, key),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        sent = 0
        while sent < lines:
            if every:
                time.sleep((offset - time.time() % every) % every)
            n = min(per_batch or lines, lines - sent)
            for k in range(n):
                proc.stdin.write(json.dumps({"actualTemperature": 20 + k % 5, "n": sent + k}) + "\n")
            proc.stdin.flush()
            sent += n
            if every:
                time.sleep(0.3)  # past the offset: the next batch waits for the next period
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read()


def test_profiles_are_validated_and_round_trip(api, users):
    admin, user = users.tokens[ADMIN], users.tokens[USER]
    status, _, body = api("GET", "/api/admin/security-profiles", token=admin)
    assert status == 200 and body["profiles"] == [] and "messages-sent" in body["metrics"]
    assert api("GET", "/api/admin/security-profiles", token=user)[0] == 403
    assert api("GET", "/api/admin/security-profiles")[0] == 401
    assert api("PUT", "/api/admin/security-profiles", {"profiles": []}, token=user)[0] == 403

    stored = put_profiles(api, users, [
        {"name": "all", "rules": [{"name": "flood", "metric": "messages-sent",
                                   "comparison": "greater-than", "value": 600,
                                   "durationSeconds": 300}]},
        {"name": "thermostats", "model": "TH-1", "rules": [
            {"name": "burst", "metric": "bytes-sent", "statistic": "p99", "durationSeconds": 60,
             "action": "notify"}]}])
    first = stored["profiles"][0]["rules"][0]
    # Defaults are spelled out: notify, clear after two windows.
    assert first == {"name": "flood", "metric": "messages-sent", "comparison": "greater-than",
                     "value": 600, "durationSeconds": 300, "action": "notify",
                     "clearAfterSeconds": 600}
    second = stored["profiles"][1]
    assert second["model"] == "TH-1" and second["rules"][0]["statistic"] == "p99"
    assert second["rules"][0]["minSamples"] == 20
    assert api("GET", "/api/admin/security-profiles", token=admin)[2]["profiles"] == stored["profiles"]

    bad = [
        ({"profiles": {}}, "profiles"),
        ({"profiles": [{"name": "a b", "rules": []}]}, "profiles[0].name"),
        ({"profiles": [{"name": "a", "rules": []}, {"name": "a", "rules": []}]}, "profiles[1].name"),
        ({"profiles": [{"name": "a", "rules": [{"name": "r", "metric": "cpu"}]}]},
         "profiles[0].rules[0].metric"),
        ({"profiles": [{"name": "a", "rules": [{"name": "r", "metric": "disconnects",
                                                "comparison": "about", "value": 1}]}]},
         "profiles[0].rules[0].comparison"),
        ({"profiles": [{"name": "a", "rules": [{"name": "r", "metric": "disconnects",
                                                "comparison": "less-than", "value": -1}]}]},
         "profiles[0].rules[0].value"),
        ({"profiles": [{"name": "a", "rules": [{"name": "r", "metric": "disconnects",
                                                "statistic": "p50"}]}]},
         "profiles[0].rules[0].statistic"),
        ({"profiles": [{"name": "a", "rules": [{"name": "r", "metric": "disconnects",
                                                "statistic": "p90", "value": 3}]}]},
         "profiles[0].rules[0]"),
        ({"profiles": [{"name": "a", "rules": [{"name": "r", "metric": "disconnects",
                                                "comparison": "greater-than", "value": 3,
                                                "durationSeconds": 0}]}]},
         "profiles[0].rules[0].durationSeconds"),
        ({"profiles": [{"name": "a", "rules": [{"name": "r", "metric": "disconnects",
                                                "comparison": "greater-than", "value": 3,
                                                "durationSeconds": 60, "clearAfterSeconds": 30}]}]},
         "profiles[0].rules[0].clearAfterSeconds"),
        ({"profiles": [{"name": "a", "rules": [{"name": "r", "metric": "disconnects",
                                                "comparison": "greater-than", "value": 3,
                                                "action": "explode"}]}]},
         "profiles[0].rules[0].action"),
    ]
    for document, field in bad:
        status, _, body = api("PUT", "/api/admin/security-profiles", document, token=admin)
        assert status == 422 and body["error"] == "InvalidSecurityProfile", (document, body)
        assert body["message"].startswith(field), (field, body)
    # Nothing changed by the refused documents.
    assert api("GET", "/api/admin/security-profiles", token=admin)[2]["profiles"] == stored["profiles"]


def test_flood_is_alerted_and_quarantined_until_released(inst, api, users):
    admin = users.tokens[ADMIN]
    serial = "SN-FLOOD1"
    issue_cert(inst, serial)
    issue_cert(inst, "SN-CALM1")
    put_profiles(api, users, [{"name": "flood-guard", "rules": [
        {"name": "too-many", "metric": "messages-sent", "comparison": "greater-than", "value": 50,
         "durationSeconds": 5, "action": "quarantine", "clearAfterSeconds": 5}]}])
    r = publish(inst, serial, f"smartproduct/telemetry/{serial}", '{"actualTemperature": 20}')
    assert r.pubacks == [0], r

    flood(inst, serial, 200)
    publish(inst, "SN-CALM1", "smartproduct/telemetry/SN-CALM1", '{"actualTemperature": 20}')

    wait_for(lambda: violations(api, users, status="active", deviceId=serial), 20,
             "an active violation")
    v = violations(api, users, status="active", deviceId=serial)[0]
    assert v["profile"] == "flood-guard" and v["rule"] == "too-many"
    assert v["metric"] == "messages-sent" and v["value"] > 50 and v["threshold"] == 50
    assert v["action"] == "quarantine" and v["statistic"] is None
    assert violations(api, users, deviceId="SN-CALM1") == []

    status, _, q = api("GET", f"/api/admin/quarantine/{serial}", token=admin)
    assert status == 200 and q["source"] == "detect" and q["violationId"] == v["id"], q
    status, _, page = api("GET", "/api/admin/quarantine", token=admin)
    assert [x["deviceId"] for x in page["Items"]] == [serial]

    # The broker refuses its telemetry (0x87) but not its shadow.
    def refused():
        return publish(inst, serial, f"smartproduct/telemetry/{serial}", "{}").pubacks == [0x87]
    wait_for(refused, 10, "telemetry refused with 0x87")
    r = publish(inst, serial, f"$aws/things/{serial}/shadow/update",
                '{"state": {"reported": {"mode": "cool"}}}')
    assert r.pubacks == [0], r
    # The alert reached every administrator's events (and so their alerts), and no one else's.
    def alerted(token):
        status, _, body = api("GET", "/api/events?limit=50", token=token)
        return status == 200 and any(e.get("details", {}).get("violationId") == v["id"]
                                     for e in body["Items"])
    wait_for(lambda: alerted(admin), 10, "an event about the violation")
    wait_for(lambda: alerted(users.tokens[ADMIN2]), 10, "the second admin's event")
    assert not alerted(users.tokens[USER])

    def open_alert(token):
        status, _, body = api("GET", "/api/alerts?limit=100", token=token)
        assert status == 200, body
        return any(a.get("details", {}).get("violationId") == v["id"] for a in body["Items"])
    assert open_alert(admin) and open_alert(users.tokens[ADMIN2])

    # Back to normal (no messages for the clear time): the violation clears, the quarantine stays.
    wait_for(lambda: violations(api, users, status="cleared", deviceId=serial), 30,
             "the violation cleared")
    # Its alert ends with it, for every administrator.
    wait_for(lambda: not open_alert(admin) and not open_alert(users.tokens[ADMIN2]), 10,
             "the alert acknowledged")
    assert api("GET", f"/api/admin/quarantine/{serial}", token=admin)[0] == 200
    assert publish(inst, serial, f"smartproduct/telemetry/{serial}", "{}").pubacks == [0x87]

    # Release: telemetry flows again.
    status, _, body = api("DELETE", f"/api/admin/quarantine/{serial}", token=admin)
    assert status == 200 and body == {"deviceId": serial, "status": "RELEASED"}
    wait_for(lambda: publish(inst, serial, f"smartproduct/telemetry/{serial}", "{}").pubacks == [0],
             10, "telemetry accepted after release")
    status, _, body = api("DELETE", f"/api/admin/quarantine/{serial}", token=admin)
    assert status == 404 and body["error"] == "NotQuarantined"


def test_manual_quarantine_and_errors(inst, api, users):
    admin, user = users.tokens[ADMIN], users.tokens[USER]
    serial = "SN-MANUAL1"
    issue_cert(inst, serial)
    assert publish(inst, serial, f"smartproduct/telemetry/{serial}", "{}").pubacks == [0]
    wait_for(lambda: api("PUT", f"/api/admin/quarantine/{serial}", {"reason": "under review"},
                         token=admin)[0] == 201, 10, "device known")
    status, _, q = api("GET", f"/api/admin/quarantine/{serial}", token=admin)
    assert q["source"] == "admin" and q["reason"] == "under review" and q["violationId"] is None
    # Again: unchanged, 200.
    assert api("PUT", f"/api/admin/quarantine/{serial}", token=admin)[0] == 200
    wait_for(lambda: publish(inst, serial, f"smartproduct/telemetry/{serial}", "{}").pubacks == [0x87],
             10, "refused")
    # Survives a daemon restart (the store resyncs the plugin's state).
    inst.stop()
    inst.start()
    assert publish(inst, serial, f"smartproduct/telemetry/{serial}", "{}").pubacks == [0x87]

    assert api("PUT", "/api/admin/quarantine/SN-NOBODY", token=admin)[0] == 404
    assert api("GET", "/api/admin/quarantine/SN-NOBODY", token=admin)[2]["error"] == "MissingDevice"
    assert api("PUT", f"/api/admin/quarantine/{serial}", {"reason": 5}, token=admin)[0] == 400
    assert api("PUT", f"/api/admin/quarantine/{serial}", {"reason": "x" * 501}, token=admin)[0] == 422
    assert api("PUT", f"/api/admin/quarantine/{serial}", token=user)[0] == 403
    assert api("DELETE", f"/api/admin/quarantine/{serial}", token=user)[0] == 403
    assert api("GET", "/api/admin/security-violations?status=open", token=admin)[0] == 422
    assert api("GET", "/api/admin/security-violations?lastevalkey=zz", token=admin)[0] == 400
    assert api("DELETE", f"/api/admin/quarantine/{serial}", token=admin)[0] == 200


def test_statistical_rule_learns_a_baseline_and_fires_on_a_burst(inst, api, users):
    serial = "SN-STEADY1"
    issue_cert(inst, serial)
    put_profiles(api, users, [{"name": "unlike-itself", "rules": [
        {"name": "burst", "metric": "messages-sent", "statistic": "p99", "durationSeconds": 1,
         "minSamples": 8, "action": "notify", "clearAfterSeconds": 2}]}])
    # Exactly 5 messages per one-second window for 12 windows: the baseline.
    flood(inst, serial, 60, per_batch=5, every=1.0)
    time.sleep(2.5)  # the last windows close
    assert violations(api, users, deviceId=serial) == [], "no violation while steady"
    # A 10× burst in one window.
    flood(inst, serial, 50)
    wait_for(lambda: violations(api, users, deviceId=serial), 15, "a statistical violation")
    v = violations(api, users, deviceId=serial)[0]
    assert v["statistic"] == "p99" and v["threshold"] == 5, v
    assert v["value"] >= 20, v  # the burst, even if it straddled two windows
    # Quiet again: it clears (the engine's clear time is 2 s).
    wait_for(lambda: violations(api, users, status="cleared", deviceId=serial), 15,
             "the statistical violation cleared")
    put_profiles(api, users, [])


def test_baselines_survive_a_restart(inst, api, users):
    """The daemon writes what it learned at stop; a restart goes on from there."""
    inst.stop()
    import sqlite3
    conn = sqlite3.connect(f"file:{inst.dir / 'data' / 'smartproduct.db'}?mode=ro", uri=True)
    rows = conn.execute("SELECT device_id, metric, duration_seconds, length(data) FROM "
                        "behaviour_baselines WHERE device_id = 'SN-STEADY1'").fetchall()
    conn.close()
    inst.start()
    assert rows and rows[0][1] == "messages-sent" and rows[0][2] == 1 and rows[0][3] > 10, rows


def test_a_revoke_rule_revokes_the_devices_certificates():
    """With JITR: a registered device whose certificate was activated breaks a rule whose action is
    revoke; its certificate becomes REVOKED, the broker disconnects it and refuses it after."""
    from test_jitr import add_to_catalog, cert_row, plugin_state, register, telemetry
    i = Instance(jitr=True)
    try:
        conf = i.dir / "broker" / "mosquitto.conf"
        conf.write_text(conf.read_text().replace("plugin_opt_behaviour_interval_ms 10000",
                                                 f"plugin_opt_behaviour_interval_ms {REPORT_MS}"))
        i.start()
        api = Api(i)
        u = Users(api)
        admin = u.add("revoke-admin@example.com", admin=True)
        owner = u.add("revoke-owner@example.com")
        serial = "SN-REVOKE1"
        add_to_catalog(api, admin, [serial])
        register(api, owner, serial)
        issue_cert(i, serial)
        wait_for(lambda: serial in plugin_state(i).get("registeredUsernames", []), 10,
                 "registration known to the broker plugin")
        assert publish(i, serial, f"smartproduct/telemetry/{serial}", telemetry(serial)).pubacks == [0]
        wait_for(lambda: (cert_row(i, serial) or [None])[0] == "ACTIVE", 15, "certificate ACTIVE")
        status, _, body = api("PUT", "/api/admin/security-profiles", {"profiles": [
            {"name": "strict", "model": "25HNB9", "rules": [
                {"name": "denied", "metric": "authorization-failures", "comparison": "greater-than",
                 "value": 2, "durationSeconds": 60, "action": "revoke"}]}]}, token=admin)
        assert status == 200, body
        # Publishing to another device's topic is refused by the broker: authorization failures.
        for _ in range(4):
            publish(i, serial, "smartproduct/telemetry/SN-SOMEONE-ELSE", "{}")
        wait_for(lambda: (cert_row(i, serial) or [None])[0] == "REVOKED", 20, "certificate REVOKED")
        status, _, body = api("GET", f"/api/admin/security-violations?deviceId={serial}", token=admin)
        v = body["Items"][0]
        assert v["metric"] == "authorization-failures" and v["action"] == "revoke", v
        assert v["value"] >= 3, v
        r = publish(i, serial, f"smartproduct/telemetry/{serial}", telemetry(serial))
        assert r.refused, r
    finally:
        i.cleanup()
