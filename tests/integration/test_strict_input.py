"""Issue 10, findings 10 and 12 (part): every API body and device payload is JSON in its entirety or
refused. Before the fix nlohmann's parser stopped at a NUL byte (`{…}\\0garbage` was saved), kept the
last of two equal member names (a device's `{"deviceId":"<other>","deviceId":"<self>"}` was stored)
and accepted any nesting depth (65,000 levels were parsed and copied recursively). Real instance,
real mosquitto with the plugin, a device over mutual TLS through JITR."""

from __future__ import annotations

import json

from devices import count, issue_cert, metric, publish
from harness import wait_for
from test_jitr import LiveDevice, api, inst, register, telemetry, users, wait_status  # noqa: F401

OWNER = "alice@example.com"
ADMIN = "jitr-admin@example.com"


def raw(inst, method, path, body: bytes, token: str):
    return inst.request(method, path, body=body,
                        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def test_api_bodies_must_be_json_in_their_entirety(inst, api, users):
    admin = users.tokens[ADMIN]
    owner_id = users.ids[OWNER]
    path = f"/api/admin/settings/config/{owner_id}"
    status, _, before = api("GET", path, token=admin)
    assert status == 200

    cases = {
        "nul": b'{"alertLevel":["info"],"sendNotification":true}\0garbage',
        "duplicate": b'{"alertLevel":["info"],"alertLevel":["error"],"sendNotification":true}',
        "deep": b'{"alertLevel":["info"],"sendNotification":true,"x":' + b"[" * 10000 + b"]" * 10000 + b"}",
        "trailing": b'{"alertLevel":["info"],"sendNotification":true} {}',
    }
    for name, body in cases.items():
        status, _, err = raw(inst, "PUT", path, body, admin)
        assert status in (400, 413), (name, status, err)
        if status == 400:
            assert err["error"] == "InvalidJson", (name, err)
    # Nothing was saved by any of them.
    assert api("GET", path, token=admin)[2] == before

    # The same trick on registration: no half-parsed registration row.
    status, _, err = raw(inst, "POST", "/api/registration",
                         b'{"deviceId":"SN-J019","deviceName":"nul","modelNumber":"25HNB9"}\0x',
                         users.tokens[OWNER])
    assert status == 400 and err["error"] == "InvalidJson"
    assert count(inst, "SELECT count(*) FROM registrations WHERE device_id = 'SN-J019'") == 0

    # A well-formed body still works.
    status, _, _ = raw(inst, "PUT", path, json.dumps(before["setting"]).encode(), admin)
    assert status == 200


def test_device_payloads_must_be_json_in_their_entirety(inst, api, users):
    owner = users.tokens[OWNER]
    serial = "SN-J018"
    register(api, owner, serial)
    cert = issue_cert(inst, serial)
    dev = LiveDevice(inst, serial, cert)
    try:
        wait_status(api, owner, serial, "complete")
        rejected_before = metric(inst, "smartproduct_ingest_rejected_total",
                                 path="telemetry", reason="malformed_json")
        stored = lambda: count(inst, "SELECT count(*) FROM telemetry WHERE device_id = ?", serial,  # noqa: E731
                               name="telemetry.db")
        assert dev.send(telemetry(serial, 1)) == 0
        wait_for(lambda: stored() == 1, 10, "the good message stored")

        # Another device's id first, the device's own id last: nlohmann kept the last one.
        dup = '{"deviceId":"SN-J000","deviceId":"%s","actualTemperature":71,"marker":"dup"}' % serial
        dev.send(dup)
        deep = '{"deviceId":"%s","marker":"deep","x":%s%s}' % (serial, "[" * 5000, "]" * 5000)
        dev.send(deep)
        wait_for(lambda: metric(inst, "smartproduct_ingest_rejected_total", path="telemetry",
                                reason="malformed_json") >= rejected_before + 2, 10,
                 "both refused as malformed")
        assert dev.send(telemetry(serial, 2)) == 0
        wait_for(lambda: stored() == 2, 10, "the next good message stored")
        assert count(inst, "SELECT count(*) FROM telemetry WHERE payload LIKE '%marker%'",
                     name="telemetry.db") == 0
    finally:
        dev.close()

    # A NUL byte followed by garbage (mosquitto_pub -f sends the file byte for byte).
    nul = inst.dir / "nul-payload.bin"
    nul.write_bytes(b'{"deviceId":"%s","marker":"nul"}\0not json' % serial.encode())
    res = publish(inst, serial, f"smartproduct/telemetry/{serial}", "", cert=cert, file=nul)
    assert res.rc == 0 and res.pubacks == [0], res
    wait_for(lambda: metric(inst, "smartproduct_ingest_rejected_total", path="telemetry",
                            reason="malformed_json") >= rejected_before + 3, 10, "NUL payload refused")
    assert count(inst, "SELECT count(*) FROM telemetry WHERE payload LIKE '%marker%'",
                 name="telemetry.db") == 0


def test_query_parameters_and_emails_are_validated(inst, api, users):
    """Finding 12: `limit=` (empty) and repeated query parameters passed, and forgot/resend
    answered 202 for an empty, NUL or 60 KB email."""
    admin = users.tokens[ADMIN]
    status, _, body = api("GET", "/api/admin/users?limit=", token=admin)
    assert status == 422 and body["error"] == "InvalidLimit", body
    for target in ["/api/admin/users?limit=5&limit=6", "/api/devices?limit=1&limit=1",
                   "/api/events?type=error&type=info"]:
        status, _, body = api("GET", target, token=admin)
        assert status == 422 and body["error"] == "InvalidQuery", (target, body)
        assert "more than once" in body["message"], body
    # The same routes with each parameter once still answer.
    assert api("GET", "/api/admin/users?limit=5", token=admin)[0] == 200
    assert api("GET", "/api/events?type=error", token=admin)[0] == 200

    for email in ["", "   ", "a\u0000b@example.com", "x" * 60000 + "@example.com", "no-at-sign"]:
        for path in ["/api/auth/password/forgot", "/api/auth/verify/resend"]:
            status, _, body = api("POST", path, {"email": email})
            assert status == 422 and body["error"] == "InvalidEmail", (path, email[:20], body)
    # A well-formed address still gets the answer that reveals nothing.
    for path in ["/api/auth/password/forgot", "/api/auth/verify/resend"]:
        assert api("POST", path, {"email": "nobody-here@example.com"})[0] == 202


def test_events_keep_what_the_device_sent_byte_for_byte(inst, api, users):
    """Finding 12: numbers were re-serialized (18446744073709551616 stored as 1.8446744073709552e+19)."""
    owner = users.tokens[OWNER]
    serial = "SN-J019"
    register(api, owner, serial)
    cert = issue_cert(inst, serial)
    wait_for(lambda: publish(inst, serial, f"smartproduct/telemetry/{serial}", telemetry(serial, 1),
                             cert=cert).pubacks == [0], 20, "the device activated")
    wait_status(api, owner, serial, "complete")
    sent = ('{ "deviceId": "%s", "messageId": "big-1", "type": "info", "message": "big number",'
            ' "details": {"counter": 18446744073709551616, "ratio": 1.50} }') % serial
    res = publish(inst, serial, f"smartproduct/event/{serial}", sent, cert=cert)
    assert res.pubacks == [0], res
    rows = lambda: count(inst, "SELECT count(*) FROM events WHERE device_id = ? AND payload = ?",  # noqa: E731
                         serial, sent)
    wait_for(lambda: rows() == 1, 15, "the event stored as sent")


def test_null_is_not_a_value_of_a_patched_field(inst, api, users):
    """Finding 12: PATCH /api/admin/cas/{id} and /api/admin/users/{id} answered 200 to null."""
    admin = users.tokens[ADMIN]
    status, _, cas = api("GET", "/api/admin/cas", token=admin)
    assert status == 200 and cas["Items"], cas
    ca = cas["Items"][0]
    for body in [{"status": None}, {"autoRegistration": None}, {"status": None, "autoRegistration": True}]:
        status, _, err = api("PATCH", f"/api/admin/cas/{ca['caId']}", body, token=admin)
        assert status == 400 and err["error"] == "InvalidRequest", (body, err)
    status, _, same = api("GET", f"/api/admin/cas/{ca['caId']}", token=admin)
    assert status == 200 and same["status"] == ca["status"]
    assert same["autoRegistration"] == ca["autoRegistration"]

    owner_id = users.ids[OWNER]
    for body in [{"role": None}, {"role": None, "enabled": True}, {"enabled": None}]:
        status, _, err = api("PATCH", f"/api/admin/users/{owner_id}", body, token=admin)
        assert status == 400 and err["error"] == "InvalidField", (body, err)
    status, _, user = api("GET", f"/api/admin/users/{owner_id}", token=admin)
    assert status == 200 and user["role"] == "user" and user["enabled"] is True, user
