"""The security audit end to end: a real instance (daemon + managed broker with the plugin, JITR on),
devices connecting over mutual TLS, audit runs started over the API, findings made to fire by real
conditions (a certificate valid for one day, a permissive ACL line, a world-readable key, broker
logging off, a revocation missing from the plugin's state, one certificate used from two
addresses) and resolved by the next run once fixed; the mitigation action revokes a certificate
and the device can no longer connect."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from devices import publish
from harness import BIN, running_instance, wait_for
from test_accounts import Api, signup
from test_jitr import Users, add_to_catalog, cert_row, plugin_state, register, telemetry

ADMIN = "audit-admin@example.com"
USER = "audit-user@example.com"


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(jitr=True)


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    u.add(ADMIN, admin=True)
    u.add(USER)
    add_to_catalog(api, u.tokens[ADMIN], [f"SN-AU{n:03d}" for n in range(5)])
    return u


def issue(inst, serial, days):
    out = subprocess.run([str(BIN / "smartproductctl"), "device-cert", "issue", "--dir", str(inst.dir),
                          "--ca", "test", "--serial", serial, "--days", str(days), "--out",
                          str(inst.dir / "devices")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return inst.dir / "devices" / f"{serial}.crt", inst.dir / "devices" / f"{serial}.key"


def activated_device(inst, api, users, serial, days=365):
    """A registered device whose certificate the platform activated at its first connection."""
    register(api, users.tokens[USER], serial)
    cert = issue(inst, serial, days)
    wait_for(lambda: serial in plugin_state(inst).get("registeredUsernames", []), 10,
             "registration known to the broker plugin")
    r = publish(inst, serial, f"smartproduct/telemetry/{serial}", telemetry(serial), cert=cert)
    assert r.connack == 0 and r.pubacks == [0], r
    wait_for(lambda: (cert_row(inst, serial) or [None])[0] == "ACTIVE", 15, f"{serial} ACTIVE")
    return cert


def run_audit(api, users):
    token = users.tokens[ADMIN]
    status, headers, body = api("POST", "/api/admin/audit/runs", token=token)
    assert status == 202, body
    run_id = body["runId"]
    assert headers.get("location") == f"/api/admin/audit/runs/{run_id}"
    result = {}

    def done():
        s, _, r = api("GET", f"/api/admin/audit/runs/{run_id}", token=token)
        assert s == 200, r
        result.update(r)
        return r["status"] != "running"

    wait_for(done, 60, f"audit run {run_id}")
    assert result["status"] == "completed", result
    return result


def findings(api, users, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    status, _, body = api("GET", f"/api/admin/audit/findings?limit=100&{q}", token=users.tokens[ADMIN])
    assert status == 200, body
    return body["Items"]


def finding_for(api, users, check, resource_id):
    for f in findings(api, users, check=check):
        if f["resourceId"] == resource_id:
            return f
    return None


def fingerprint(cert_path):
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(cert_path)],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().split("=", 1)[1].replace(":", "").upper()


def test_routes_are_admin_only_and_validate(inst, api, users):
    assert api("GET", "/api/admin/audit/runs")[0] == 401
    assert api("POST", "/api/admin/audit/runs")[0] == 401
    user = users.tokens[USER]
    for method, path in [("GET", "/api/admin/audit/runs"), ("POST", "/api/admin/audit/runs"),
                         ("GET", "/api/admin/audit/findings"), ("GET", "/api/admin/audit/runs/1"),
                         ("PUT", "/api/admin/audit/findings/1"),
                         ("POST", "/api/admin/audit/findings/1/actions")]:
        status, _, body = api(method, path, {"status": "open"} if method != "GET" else None,
                              token=user)
        assert status == 403, (method, path, body)
    admin = users.tokens[ADMIN]
    assert api("GET", "/api/admin/audit/runs/999999", token=admin)[0] == 404
    assert api("GET", "/api/admin/audit/runs/abc", token=admin)[0] == 404
    assert api("GET", "/api/admin/audit/findings/999999", token=admin)[0] == 404
    assert api("PUT", "/api/admin/audit/findings/999999", {"status": "open"}, token=admin)[0] == 404
    for query in ["severity=urgent", "status=closed", "check=NO_SUCH_CHECK", "limit=0"]:
        status, _, body = api("GET", f"/api/admin/audit/findings?{query}", token=admin)
        assert status == 422, (query, body)
    assert api("GET", "/api/admin/audit/findings?lastevalkey=garbage", token=admin)[0] == 400


def test_one_run_at_a_time(inst, api, users):
    # A run left 'running' (as the daemon's or smartproductctl's would be): the store refuses a second.
    path = inst.dir / "data" / "smartproduct.db"
    with sqlite3.connect(path, timeout=10) as conn:
        conn.execute("INSERT INTO audit_runs (trigger, status, started_at) "
                     "VALUES ('manual', 'running', 1)")
    try:
        status, _, body = api("POST", "/api/admin/audit/runs", token=users.tokens[ADMIN])
        assert status == 409 and body["error"] == "AuditRunning", body
        out = subprocess.run([str(BIN / "smartproductctl"), "audit", "run", "--config", str(inst.config)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stdout + out.stderr
    finally:
        with sqlite3.connect(path, timeout=10) as conn:
            conn.execute("UPDATE audit_runs SET status = 'failed' WHERE started_at = 1")
    run = run_audit(api, users)
    assert run["trigger"] == "manual"
    assert set(run["checks"]) >= {"DEVICE_CERTIFICATE_EXPIRING_CHECK", "DEVICE_CERTIFICATE_SHARED_CHECK",
                                  "IOT_POLICY_OVERLY_PERMISSIVE_CHECK", "LOGGING_DISABLED_CHECK"}


def test_the_fresh_instance_has_no_broker_or_file_findings(inst, api, users):
    run_audit(api, users)
    open_ones = findings(api, users, status="open")
    bad = [f for f in open_ones if f["check"] in ("IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
                                                  "LOGGING_DISABLED_CHECK", "PKI_FILE_PERMISSIONS_CHECK",
                                                  "TLS_VERSION_CHECK", "WEAK_KEY_CHECK")]
    assert bad == [], bad


def test_expiring_certificate_then_revoke_from_the_finding(inst, api, users):
    cert = activated_device(inst, api, users, "SN-AU000", days=1)
    fp = fingerprint(cert[0])
    run = run_audit(api, users)
    assert run["checks"]["DEVICE_CERTIFICATE_EXPIRING_CHECK"] >= 1
    f = finding_for(api, users, "DEVICE_CERTIFICATE_EXPIRING_CHECK", fp)
    assert f, findings(api, users)
    assert f["severity"] == "medium" and f["status"] == "open"
    assert f["resourceType"] == "certificate" and f["details"]["deviceId"] == "SN-AU000"
    admin = users.tokens[ADMIN]

    # Filters, and one finding by id.
    assert any(x["id"] == f["id"] for x in findings(api, users, severity="medium"))
    assert all(x["severity"] == "high" for x in findings(api, users, severity="high"))
    status, _, one = api("GET", f"/api/admin/audit/findings/{f['id']}", token=admin)
    assert status == 200 and one["id"] == f["id"]

    # Bad action bodies.
    for body, want in [({"action": "quarantine"}, 422), ({"action": "disable-ca"}, 422),
                       ({"action": 5}, 400), ({}, 422)]:
        status, _, r = api("POST", f"/api/admin/audit/findings/{f['id']}/actions", body, token=admin)
        assert status == want, (body, r)

    # Firing again: same finding, last seen moves.
    run_audit(api, users)
    again = finding_for(api, users, "DEVICE_CERTIFICATE_EXPIRING_CHECK", fp)
    assert again["id"] == f["id"] and again["firstSeen"] == f["firstSeen"]
    assert again["lastSeen"] > f["lastSeen"]

    status, _, r = api("POST", f"/api/admin/audit/findings/{f['id']}/actions",
                       {"action": "revoke-certificate"}, token=admin)
    assert status == 200 and r["status"] == "REVOKED", r
    assert cert_row(inst, "SN-AU000")[0] == "REVOKED"
    wait_for(lambda: fp in plugin_state(inst).get("revokedFingerprints", []), 10,
             "revocation in the plugin's state")
    r = publish(inst, "SN-AU000", "smartproduct/telemetry/SN-AU000", telemetry("SN-AU000"), cert=cert)
    assert r.refused, r
    status, _, r = api("POST", f"/api/admin/audit/findings/{f['id']}/actions",
                       {"action": "revoke-certificate"}, token=admin)
    assert status == 409, r

    run_audit(api, users)
    assert finding_for(api, users, "DEVICE_CERTIFICATE_EXPIRING_CHECK", fp)["status"] == "resolved"
    assert finding_for(api, users, "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", fp) is None

    # A revocation missing from the plugin's state (the file edited behind the daemon's back).
    state_path = inst.dir / "broker" / "state.json"
    original = state_path.read_text()
    state_path.write_text(original.replace(f'"{fp}"', '"' + "0" * 64 + '"'))
    try:
        run_audit(api, users)
        g = finding_for(api, users, "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", fp)
        assert g and g["status"] == "open", findings(api, users)
        assert "plugin" in g["reason"]
    finally:
        state_path.write_text(original)
    run_audit(api, users)
    assert finding_for(api, users, "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", fp)["status"] == "resolved"


def test_permissive_acl_world_readable_key_and_logging_off_resolve_when_fixed(inst, api, users):
    acl = next((inst.dir / "broker").glob("*.acl"))
    conf = inst.dir / "broker" / "mosquitto.conf"
    key = inst.dir / "pki" / "cas" / "test.key"
    acl_text, conf_text, key_mode = acl.read_text(), conf.read_text(), key.stat().st_mode & 0o777
    try:
        acl.write_text(acl_text + "\nuser mallory\ntopic readwrite #\n")
        conf.write_text(conf_text.replace("log_dest stderr", "log_dest none"))
        key.chmod(0o644)
        run_audit(api, users)
        line = len((acl_text + "\nuser mallory\ntopic readwrite #\n").splitlines())
        p = finding_for(api, users, "IOT_POLICY_OVERLY_PERMISSIVE_CHECK", f"{acl}:{line}")
        assert p and p["severity"] == "critical" and p["status"] == "open", findings(api, users)
        k = finding_for(api, users, "PKI_FILE_PERMISSIONS_CHECK", str(key))
        assert k and k["severity"] == "critical", findings(api, users)
        lg = [f for f in findings(api, users, check="LOGGING_DISABLED_CHECK", status="open")
              if f["resourceType"] == "broker"]
        assert len(lg) == 1, lg

        # Suppressing one keeps it out of the open list; it still fires (last seen moves).
        admin = users.tokens[ADMIN]
        status, _, s = api("PUT", f"/api/admin/audit/findings/{k['id']}",
                           {"status": "suppressed", "reason": "test key", "until": "2099-01-01T00:00:00Z"},
                           token=admin)
        assert status == 200 and s["status"] == "suppressed" and s["suppressReason"] == "test key", s
        assert api("PUT", f"/api/admin/audit/findings/{k['id']}", {"status": "suppressed"},
                   token=admin)[0] == 422
        assert api("PUT", f"/api/admin/audit/findings/{k['id']}",
                   {"status": "suppressed", "reason": "x", "until": "2001-01-01T00:00:00Z"},
                   token=admin)[0] == 422
        assert api("PUT", f"/api/admin/audit/findings/{k['id']}", {"status": 1}, token=admin)[0] == 400
        run_audit(api, users)
        assert finding_for(api, users, "PKI_FILE_PERMISSIONS_CHECK", str(key))["status"] == "suppressed"
        status, _, o = api("PUT", f"/api/admin/audit/findings/{k['id']}", {"status": "open"}, token=admin)
        assert status == 200 and o["status"] == "open"
    finally:
        acl.write_text(acl_text)
        conf.write_text(conf_text)
        key.chmod(key_mode)
    run_audit(api, users)
    assert finding_for(api, users, "IOT_POLICY_OVERLY_PERMISSIVE_CHECK", f"{acl}:{line}")["status"] == "resolved"
    assert finding_for(api, users, "PKI_FILE_PERMISSIONS_CHECK", str(key))["status"] == "resolved"
    assert [f for f in findings(api, users, check="LOGGING_DISABLED_CHECK", status="open")] == []
    resolved = finding_for(api, users, "PKI_FILE_PERMISSIONS_CHECK", str(key))
    assert resolved["resolvedAt"]
    # A resolved finding cannot be suppressed (it reopens by itself when it fires again).
    assert api("PUT", f"/api/admin/audit/findings/{resolved['id']}",
               {"status": "suppressed", "reason": "x"}, token=users.tokens[ADMIN])[0] == 422


def test_one_certificate_from_two_addresses_is_shared_and_conflicting(inst, api, users):
    import paho.mqtt.client as paho

    crt, key = activated_device(inst, api, users, "SN-AU001")
    fp = fingerprint(crt)

    def connects():
        with sqlite3.connect(f"file:{inst.dir / 'data' / 'smartproduct.db'}?mode=ro", uri=True,
                             timeout=10) as conn:
            return conn.execute("SELECT count(DISTINCT address) || ':' || count(*) FROM presence_history "
                                "WHERE device_id = 'SN-AU001' AND event = 'connected'").fetchone()[0]

    def client(address):
        c = paho.Client(client_id="SN-AU001", protocol=paho.MQTTv5)
        c.tls_set(ca_certs=str(inst.ca), certfile=str(crt), keyfile=str(key))
        c.reconnect_delay_set(min_delay=1, max_delay=1)  # the two keep taking the session back
        c.connect("127.0.0.1", inst.mqtt_port, keepalive=30, bind_address=address)
        c.loop_start()
        return c

    a = client("127.0.0.1")
    b = client("127.0.0.2")
    try:
        wait_for(lambda: int(connects().split(":")[0]) == 2 and int(connects().split(":")[1]) >= 6,
                 60, "two addresses taking the session over")
    finally:
        for c in (a, b):
            c.loop_stop()
            c.disconnect()
    run_audit(api, users)
    shared = finding_for(api, users, "DEVICE_CERTIFICATE_SHARED_CHECK", fp)
    assert shared and shared["severity"] == "critical", findings(api, users)
    assert sorted(shared["details"]["addresses"]) == ["127.0.0.1", "127.0.0.2"]
    conflict = finding_for(api, users, "CONFLICTING_CLIENT_IDS_CHECK", "SN-AU001")
    assert conflict and conflict["severity"] == "high"

    # Revoke the shared certificate from its finding: neither holder can connect any more.
    status, _, r = api("POST", f"/api/admin/audit/findings/{shared['id']}/actions",
                       {"action": "revoke-certificate"}, token=users.tokens[ADMIN])
    assert status == 200, r
    wait_for(lambda: fp in plugin_state(inst).get("revokedFingerprints", []), 10, "revoked at the broker")
    r = publish(inst, "SN-AU001", "smartproduct/telemetry/SN-AU001", telemetry("SN-AU001"), cert=(crt, key))
    assert r.refused, r


def test_cli_audit_run(inst, api, users):
    out = subprocess.run([str(BIN / "smartproductctl"), "audit", "run", "--config", str(inst.config)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "DEVICE_CERTIFICATE_EXPIRING_CHECK" in out.stdout
    status, _, page = api("GET", "/api/admin/audit/runs?limit=1", token=users.tokens[ADMIN])
    assert status == 200 and page["Items"][0]["status"] == "completed"
    assert f"audit run {page['Items'][0]['id']}:" in out.stdout


def test_findings_raise_admin_alerts_once_and_kick_device_disconnects(inst, api, users):
    import threading

    import paho.mqtt.client as paho

    admin = users.tokens[ADMIN]
    crt, key = activated_device(inst, api, users, "SN-AU002", days=2)
    fp = fingerprint(crt)
    dropped = threading.Event()
    c = paho.Client(client_id="SN-AU002", protocol=paho.MQTTv311)
    c.tls_set(ca_certs=str(inst.ca), certfile=str(crt), keyfile=str(key))
    c.on_disconnect = lambda *_: dropped.set()
    c.connect("127.0.0.1", inst.mqtt_port, keepalive=30)
    c.loop_start()
    try:
        wait_for(lambda: c.is_connected(), 15, "SN-AU002 connected")
        run = run_audit(api, users)
        f = finding_for(api, users, "DEVICE_CERTIFICATE_EXPIRING_CHECK", fp)
        assert f and f["details"]["deviceId"] == "SN-AU002", findings(api, users)

        # The device filter: every finding about SN-AU002 and nothing else.
        mine = findings(api, users, deviceId="SN-AU002")
        assert f["id"] in [x["id"] for x in mine]
        assert all(x["details"].get("deviceId") == "SN-AU002" or x["resourceId"] == "SN-AU002"
                   for x in mine), mine
        assert findings(api, users, deviceId="SN-NOBODY") == []

        # The new finding is an event of every administrator (medium: a warning) and an alert.
        def audit_events():
            status, _, body = api("GET", "/api/events?limit=100", token=admin)
            assert status == 200, body
            return [e for e in body["Items"]
                    if e["deviceId"] == "$system" and (e.get("details") or {}).get("findingId") == f["id"]]

        wait_for(lambda: len(audit_events()) == 1, 20, "the finding's admin event")
        event = audit_events()[0]
        assert event["type"] == "warning" and "DEVICE_CERTIFICATE_EXPIRING_CHECK" in event["message"]
        assert event["details"]["runId"] == run["id"]
        status, _, alerts = api("GET", "/api/alerts", token=admin)
        assert status == 200 and any(a.get("deviceId") == "$system" for a in alerts["Items"]), alerts
        # A user who is not an admin gets none of it.
        status, _, theirs = api("GET", "/api/events?limit=100", token=users.tokens[USER])
        assert status == 200 and all(e["deviceId"] != "$system" for e in theirs["Items"]), theirs

        # Still open at the next run: not announced again.
        run_audit(api, users)
        assert len(audit_events()) == 1

        # kick-device: the broker drops the connection, the device keeps its rights.
        status, _, r = api("POST", f"/api/admin/audit/findings/{f['id']}/actions",
                           {"action": "kick-device"}, token=admin)
        assert status == 200 and r == {"action": "kick-device", "findingId": f["id"],
                                       "deviceId": "SN-AU002", "status": "DISCONNECT_REQUESTED"}, r
        assert dropped.wait(15), "the broker did not disconnect SN-AU002"
    finally:
        c.loop_stop()
        c.disconnect()
    r = publish(inst, "SN-AU002", "smartproduct/telemetry/SN-AU002", telemetry("SN-AU002"), cert=(crt, key))
    assert r.connack == 0 and r.pubacks == [0], r

    # A finding about no device (the broker's config) has nothing to kick.
    broker_finding = {"check": "X"}
    for x in findings(api, users):
        if "deviceId" not in x["details"] and x["resourceType"] not in ("device",):
            broker_finding = x
            break
    if "id" in broker_finding:
        status, _, r = api("POST", f"/api/admin/audit/findings/{broker_finding['id']}/actions",
                           {"action": "kick-device"}, token=admin)
        assert status == 422 and r["error"] == "AuditActionNotApplicable", r


def test_admin_account_hygiene(inst, api, users):
    admin = users.tokens[ADMIN]
    email = "audit-unverified-admin@example.com"
    status, _, body = signup(api, email)
    assert status == 201, body
    user_id = body["userId"]
    status, _, body = api("PATCH", f"/api/admin/users/{user_id}", {"role": "admin"}, token=admin)
    assert status == 200, body

    run_audit(api, users)
    f = finding_for(api, users, "ADMIN_ACCOUNT_HYGIENE_CHECK", user_id)
    assert f and f["severity"] == "medium" and f["resourceType"] == "account", findings(api, users)
    assert "not verified" in f["reason"] and f["details"]["emailVerified"] is False
    # The admins made by `smartproductctl user add` are verified and signed in just now.
    assert finding_for(api, users, "ADMIN_ACCOUNT_HYGIENE_CHECK", users.ids[ADMIN]) is None

    # Disabled, it is no longer an administrator anyone can use: resolved at the next run.
    status, _, body = api("PATCH", f"/api/admin/users/{user_id}", {"enabled": False}, token=admin)
    assert status == 200, body
    run_audit(api, users)
    assert finding_for(api, users, "ADMIN_ACCOUNT_HYGIENE_CHECK", user_id)["status"] == "resolved"


def test_summary_counts_live_findings_by_severity_and_check(inst, api, users):
    admin = users.tokens[ADMIN]
    assert api("GET", "/api/admin/audit/summary")[0] == 401
    assert api("GET", "/api/admin/audit/summary", token=users.tokens[USER])[0] == 403
    run_audit(api, users)
    status, _, summary = api("GET", "/api/admin/audit/summary", token=admin)
    assert status == 200, summary
    # The same figures the findings list gives, counted independently here.
    for state in ("open", "suppressed"):
        listed = findings(api, users, status=state)
        assert len(listed) < 100  # one page holds them all in this instance
        want = {s: sum(1 for f in listed if f["severity"] == s) for s in ("critical", "high", "medium", "low")}
        assert summary[state] == want, (state, summary, listed)
    open_ones = findings(api, users, status="open")
    by_check = {}
    for f in open_ones:
        by_check[f["check"]] = by_check.get(f["check"], 0) + 1
    assert summary["openByCheck"] == by_check
    status, _, runs = api("GET", "/api/admin/audit/runs?limit=1", token=admin)
    assert summary["latestRun"]["id"] == runs["Items"][0]["id"]
