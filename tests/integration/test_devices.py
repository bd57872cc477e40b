"""Registration and the devices API against the real daemon (seed routes 3-7): register against the
catalog (unknown pair, duplicates, validation, claim codes and their limiter), GET /registration,
GET /devices as a bare array and paged, device detail and delete with the ownership matrix (owner,
other user, admin, no token, bad tokens), delete as soft delete with re-registration by another
user, the certificate routes' access rules, admin security events, and every response checked
against /api/openapi.json. Certificates and JITR end to end are in the JITR suite."""

from __future__ import annotations

import json
import time

import pytest

from test_accounts import (OpenApi, Api, active_key, ctl, forge, b64u_decode, inst,  # noqa: F401
                           login)

PASSWORD = "devices password 123"
MODEL = "25HNB9"


class OneOfOpenApi(OpenApi):
    """The accounts suite's validator plus `oneOf` (GET /api/devices: bare array or page)."""

    def validate(self, value, schema, where):
        schema = self.resolve(schema)
        if "oneOf" in schema:
            matched = 0
            for sub in schema["oneOf"]:
                try:
                    super().validate(value, sub, where)
                    matched += 1
                except AssertionError:
                    pass
            assert matched == 1, f"{where}: {value!r} matches {matched} of the oneOf schemas"
            return
        super().validate(value, schema, where)


@pytest.fixture(scope="module")
def api(inst):  # noqa: F811
    a = Api(inst)
    a.spec = OneOfOpenApi(a.spec.doc)
    return a


def add_user(api, email, admin=False):
    args = ["user", "add", "--config", str(api.inst.config), "--email", email, "--name", "Dev User",
            "--password-stdin"] + (["--admin"] if admin else [])
    out = ctl(api.inst, *args, stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    token = login(api, email, PASSWORD)[0]["accessToken"]
    status, _, me = api("GET", "/api/auth/me", token=token)
    assert status == 200
    return token, me["userId"]


@pytest.fixture(scope="module")
def users(api):
    """{name: (token, userId)} for alice, bob, carol (users) and root (admin)."""
    out = {name: add_user(api, f"{name}@devices.example.com") for name in ("alice", "bob", "carol")}
    out["root"] = add_user(api, "root@devices.example.com", admin=True)
    return out


@pytest.fixture(scope="module")
def catalog(api, users):
    admin = users["root"][0]
    entries = [{"deviceId": f"DEV-{i:03d}", "modelNumber": MODEL, "details": {"model": "INFINITY 19", "n": i}}
               for i in range(40)]
    entries.append({"deviceId": "CLAIM-1", "modelNumber": MODEL, "details": {}, "claimCode": "SECRET-CODE"})
    entries.append({"deviceId": "CLAIM-2", "modelNumber": MODEL, "details": {}, "claimCode": "OTHER-CODE"})
    for e in entries:
        status, _, body = api("POST", "/api/admin/catalog", e, token=admin)
        assert status == 201, body
    return entries


def register(api, token, device_id, name="kitchen", model=MODEL, **extra):
    body = {"deviceId": device_id, "deviceName": name, "modelNumber": model, **extra}
    return api("POST", "/api/registration", body, token=token)


ISO_RX = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def test_register_shape_and_catalog_checks(api, users, catalog):
    import re
    alice, alice_id = users["alice"]
    status, _, reg = register(api, alice, "DEV-000", "living-room")
    assert status == 200, reg
    assert reg["deviceId"] == "DEV-000" and reg["deviceName"] == "living-room"
    assert reg["modelNumber"] == MODEL and reg["status"] == "pending"
    assert reg["userId"] == alice_id
    assert reg["details"] == {"model": "INFINITY 19", "n": 0}
    assert re.match(ISO_RX, reg["createdAt"]) and re.match(ISO_RX, reg["updatedAt"])
    assert "activatedAt" not in reg

    status, _, err = register(api, alice, "DEV-999")
    assert status == 404 and err["error"] == "DeviceNotFoundFailure"
    assert err["message"] == ('Manufacturer info cannot be found for serial number "DEV-999" and model '
                              'number "25HNB9". Please add a model number/serial number that is '
                              'supported by the manufacturer.')
    assert register(api, alice, "DEV-001", model="OTHER")[0] == 404

    # Duplicate by the owner and by someone else.
    for who in ("alice", "bob"):
        status, _, err = register(api, users[who][0], "DEV-000")
        assert status == 409 and err["error"] == "DeviceRegisteredFailure"
        assert err["message"] == 'Device with serial number "DEV-000" has been already registered.'


def test_register_validation(api, users, catalog):
    alice = users["alice"][0]
    good = {"deviceId": "DEV-002", "deviceName": "n", "modelNumber": MODEL}
    cases = [
        ({k: v for k, v in good.items() if k != "deviceId"}, "deviceId"),
        ({k: v for k, v in good.items() if k != "deviceName"}, "deviceName"),
        ({k: v for k, v in good.items() if k != "modelNumber"}, "modelNumber"),
        ({**good, "deviceId": 42}, "deviceId"),
        ({**good, "deviceId": "has space"}, "deviceId"),
        ({**good, "deviceId": "x" * 129}, "deviceId"),
        ({**good, "deviceName": "my device"}, "deviceName"),
        ({**good, "deviceName": ""}, "deviceName"),
        ({**good, "deviceName": "n" * 129}, "deviceName"),
        ({**good, "deviceName": ["n"]}, "deviceName"),
        ({**good, "modelNumber": "m" * 65}, "modelNumber"),
        ({**good, "modelNumber": "a b"}, "modelNumber"),
        ({**good, "claimCode": 1234}, "claimCode"),
        ({**good, "claimCode": ""}, "claimCode"),
        ({**good, "claimCode": "c" * 129}, "claimCode"),
    ]
    for body, field in cases:
        status, _, err = api("POST", "/api/registration", body, token=alice)
        assert status == 422 and err["error"] == "InvalidRegistration", (body, err)
        assert field in err["message"], (field, err)
    for raw in (b"{not json", b"[1, 2]", b"\"text\""):
        status, _, err = api("POST", "/api/registration", raw, token=alice,
                             headers={"Content-Type": "application/json"})
        assert status == 400, (raw, err)
    # Nothing above was stored.
    assert all(r["deviceId"] != "DEV-002" for r in api("GET", "/api/registration", token=alice)[2])


def test_claim_codes(api, users, catalog):
    bob = users["bob"][0]
    carol = users["carol"][0]
    status, _, err = register(api, bob, "CLAIM-1")
    assert status == 422 and err["error"] == "ClaimCodeRequired"
    status, _, err = register(api, bob, "CLAIM-1", claimCode="WRONG")
    assert status == 403 and err["error"] == "InvalidClaimCode"
    # The code of another entry is wrong for this one.
    assert register(api, bob, "CLAIM-1", claimCode="OTHER-CODE")[0] == 403
    status, _, reg = register(api, bob, "CLAIM-1", "bobs-claimed", claimCode="SECRET-CODE")
    assert status == 200 and reg["status"] == "pending" and "claimCode" not in reg

    # Ten wrong codes within the window: the 11th try waits, even with the right code.
    for _ in range(10):
        assert register(api, carol, "CLAIM-2", claimCode="GUESS")[0] == 403
    status, hdrs, err = register(api, carol, "CLAIM-2", claimCode="OTHER-CODE")
    assert status == 429 and err["error"] == "TooManyClaimAttempts"
    assert 1 <= int(hdrs["retry-after"]) <= 900
    # Others are not limited, nor are entries without a claim code.
    status, _, _ = register(api, bob, "CLAIM-2", claimCode="OTHER-CODE")
    assert status == 200
    assert register(api, carol, "DEV-039", "carols")[0] == 200


def test_registration_list_sorted(api, users, catalog):
    alice = users["alice"][0]
    for device, name in (("DEV-003", "zeta"), ("DEV-004", "alpha"), ("DEV-005", "mid")):
        assert register(api, alice, device, name)[0] == 200
    status, _, rows = api("GET", "/api/registration", token=alice)
    assert status == 200 and isinstance(rows, list)
    names = [r["deviceName"] for r in rows]
    assert names == sorted(names)
    assert {"zeta", "alpha", "mid", "living-room"} <= set(names)
    assert all(r["userId"] == users["alice"][1] for r in rows)
    # Bob does not see Alice's.
    bob_rows = api("GET", "/api/registration", token=users["bob"][0])[2]
    assert all(r["userId"] == users["bob"][1] for r in bob_rows)
    assert not {r["deviceId"] for r in bob_rows} & {r["deviceId"] for r in rows}


def walk_pages(api, token, limit):
    items, cursor, pages = [], "null", 0
    while True:
        status, _, page = api("GET", f"/api/devices?limit={limit}&lastevalkey={cursor}", token=token)
        assert status == 200, page
        assert page["Count"] == len(page["Items"]) and len(page["Items"]) <= limit
        items += page["Items"]
        pages += 1
        if "LastEvaluatedKey" not in page:
            return items, pages
        assert len(page["Items"]) == limit
        cursor = page["LastEvaluatedKey"]


def test_devices_bare_array_and_pages(api, users, catalog):
    bob, bob_id = users["bob"]
    for i in range(10, 33):
        assert register(api, bob, f"DEV-{i:03d}", f"bob-{i}")[0] == 200
    status, _, things = api("GET", "/api/devices", token=bob)
    assert status == 200 and isinstance(things, list)
    names = [t["thingName"] for t in things]
    assert len(names) == len(set(names))
    assert {f"DEV-{i:03d}" for i in range(10, 33)} <= set(names)
    for t in things:
        assert t["thingTypeName"] == "SmartProduct"
        assert t["attributes"]["userId"] == bob_id
        assert t["connectivity"] == {"connected": False, "timestamp": 0}
        assert t["status"] == "pending"
    one = next(t for t in things if t["thingName"] == "DEV-010")
    assert one["attributes"] == {"userId": bob_id, "deviceName": "bob-10", "modelNumber": MODEL}

    for limit in (1, 5, 7, len(things), 100):
        paged, pages = walk_pages(api, bob, limit)
        assert [t["thingName"] for t in paged] == names, limit  # no duplicates, no gaps, same order
        assert pages == max(1, -(-len(things) // limit)), limit
    # lastevalkey alone pages with the default size.
    status, _, page = api("GET", "/api/devices?lastevalkey=null", token=bob)
    assert status == 200 and page["Count"] == min(20, len(things))

    # An admin sees everyone's devices.
    admin_things = api("GET", "/api/devices", token=users["root"][0])[2]
    owners = {t["attributes"]["userId"] for t in admin_things}
    assert {users["alice"][1], bob_id} <= owners
    admin_paged, _ = walk_pages(api, users["root"][0], 9)
    assert [t["thingName"] for t in admin_paged] == [t["thingName"] for t in admin_things]

    for bad in ("limit=0", "limit=101", "limit=abc", "limit=-1"):
        status, _, err = api("GET", f"/api/devices?{bad}", token=bob)
        assert status == 422 and err["error"] == "InvalidLimit", bad
    for bad in ("garbage!", "e30", "bm90IGpzb24"):
        assert api("GET", f"/api/devices?limit=5&lastevalkey={bad}", token=bob)[0] == 400, bad


def expired_token(api, token):
    header, payload, _ = token.split(".")
    claims = json.loads(b64u_decode(payload))
    hdr = json.loads(b64u_decode(header))
    _, key_pem = active_key(api.inst)
    now = int(time.time())
    return forge(hdr, {**claims, "iat": now - 4000, "nbf": now - 4000, "exp": now - 3000}, key_pem)


def test_ownership_matrix(api, users, catalog):
    alice, alice_id = users["alice"]
    bob = users["bob"][0]
    admin = users["root"][0]
    assert register(api, alice, "DEV-006", "matrix")[0] == 200
    assert register(api, bob, "DEV-007", "bobs-matrix")[0] == 200
    fp = "A" * 64
    device_routes = [
        ("GET", "/api/devices/DEV-006", None),
        ("GET", "/api/devices/DEV-006/certificates", None),
        ("POST", f"/api/devices/DEV-006/certificates/{fp}/revoke", None),
        ("DELETE", "/api/devices/DEV-006", None),
    ]
    bad_tokens = [None, "not.a.token", "garbage", expired_token(api, alice)]
    list_routes = [("GET", "/api/registration", None), ("GET", "/api/devices", None),
                   ("POST", "/api/registration", {"deviceId": "DEV-008", "deviceName": "n", "modelNumber": MODEL}),
                   ("GET", "/api/admin/security-events", None)]
    for method, path, body in device_routes + list_routes:
        for tok in bad_tokens:
            status, hdrs, err = api(method, path, body, token=tok)
            assert status == 401, (method, path, tok, err)
            assert "www-authenticate" in hdrs

    # Another user: 403 on every route of the device; unknown ids 404; invalid ids 404.
    for method, path, body in device_routes:
        status, _, err = api(method, path, body, token=bob)
        assert status == 403 and err["error"] == "DeviceAccessDenied", (method, path, err)
        unknown = path.replace("DEV-006", "DEV-999")
        status, _, err = api(method, unknown, body, token=bob)
        assert status == 404 and err["error"] == "MissingDevice", (method, unknown, err)
        invalid = path.replace("DEV-006", "bad%20id")
        assert api(method, invalid, body, token=alice)[0] == 404, (method, invalid)
    status, _, err = api("GET", "/api/devices/DEV-999", token=alice)
    assert err["message"] == 'The device "DEV-999" does not exist.'

    # Owner and admin read; the certificate list is empty, revoking an unknown one is 404.
    for tok in (alice, admin):
        status, _, reg = api("GET", "/api/devices/DEV-006", token=tok)
        assert status == 200 and reg["userId"] == alice_id and reg["deviceName"] == "matrix"
        status, _, certs = api("GET", "/api/devices/DEV-006/certificates", token=tok)
        assert status == 200 and certs == {"Items": []}
        status, _, err = api("POST", f"/api/devices/DEV-006/certificates/{fp}/revoke", token=tok)
        assert status == 404 and err["error"] == "CertificateNotFound"
    assert api("GET", "/api/devices/DEV-007", token=alice)[0] == 403
    assert api("GET", "/api/devices/DEV-007", token=admin)[0] == 200

    # Admin-only route.
    assert api("GET", "/api/admin/security-events", token=alice)[0] == 403
    status, _, page = api("GET", "/api/admin/security-events?limit=5", token=admin)
    assert status == 200 and isinstance(page["Items"], list)
    assert api("GET", "/api/admin/security-events?limit=0", token=admin)[0] == 422
    assert api("GET", "/api/admin/security-events?before=x", token=admin)[0] == 400
    assert api("GET", "/api/admin/security-events?lastevalkey=garbage!", token=admin)[0] == 400
    assert api("GET", "/api/admin/security-events?deviceId=bad%20id", token=admin)[0] == 422

    # An admin deletes someone else's device.
    status, _, body = api("DELETE", "/api/devices/DEV-007", token=admin)
    assert status == 200 and body == "Delete successful"
    assert api("GET", "/api/devices/DEV-007", token=bob)[2]["status"] == "deleted"
    status, _, err = api("DELETE", "/api/devices/DEV-007", token=admin)
    assert status == 409 and err["error"] == "DeviceAlreadyDeleted"


def test_delete_and_move_to_new_owner(api, users, catalog):
    alice, alice_id = users["alice"]
    bob, bob_id = users["bob"]
    admin = users["root"][0]
    assert register(api, alice, "DEV-009", "moving")[0] == 200

    assert api("DELETE", "/api/devices/DEV-009", token=bob)[0] == 403
    status, _, body = api("DELETE", "/api/devices/DEV-009", token=alice)
    assert status == 200 and body == "Delete successful"
    status, _, err = api("DELETE", "/api/devices/DEV-009", token=alice)
    assert status == 409 and err["error"] == "DeviceAlreadyDeleted"

    # History: still readable, listed in /registration, gone from /devices.
    status, _, reg = api("GET", "/api/devices/DEV-009", token=alice)
    assert status == 200 and reg["status"] == "deleted" and "deletedAt" in reg
    assert reg["updatedAt"] >= reg["createdAt"]
    rows = api("GET", "/api/registration", token=alice)[2]
    assert any(r["deviceId"] == "DEV-009" and r["status"] == "deleted" for r in rows)
    assert "DEV-009" not in {t["thingName"] for t in api("GET", "/api/devices", token=alice)[2]}
    assert api("GET", "/api/devices/DEV-009/certificates", token=alice)[2] == {"Items": []}
    status, _, err = api("POST", f"/api/devices/DEV-009/certificates/{'B' * 64}/revoke", token=alice)
    assert status == 409 and err["error"] == "DeviceAlreadyDeleted"
    assert api("GET", "/api/devices/DEV-009", token=bob)[0] == 403

    # Another user registers it now; each sees their own row.
    status, _, reg = register(api, bob, "DEV-009", "bobs-now")
    assert status == 200 and reg["userId"] == bob_id and reg["status"] == "pending"
    assert api("GET", "/api/devices/DEV-009", token=bob)[2]["deviceName"] == "bobs-now"
    old = api("GET", "/api/devices/DEV-009", token=alice)[2]
    assert old["userId"] == alice_id and old["status"] == "deleted" and old["deviceName"] == "moving"
    assert api("GET", "/api/devices/DEV-009", token=admin)[2]["userId"] == bob_id
    assert "DEV-009" in {t["thingName"] for t in api("GET", "/api/devices", token=bob)[2]}
    # Alice cannot delete Bob's registration through her history.
    status, _, err = api("DELETE", "/api/devices/DEV-009", token=alice)
    assert status == 409 and err["error"] == "DeviceAlreadyDeleted"
    assert api("GET", "/api/devices/DEV-009", token=bob)[2]["status"] == "pending"
    # And Alice may not register it while Bob holds it.
    assert register(api, alice, "DEV-009")[0] == 409


def test_openapi_covers_the_routes(api):
    doc = api("GET", "/api/openapi.json")[2]
    for path in ("/api/registration", "/api/devices", "/api/devices/{deviceId}",
                 "/api/devices/{deviceId}/certificates",
                 "/api/devices/{deviceId}/certificates/{fingerprint}/revoke",
                 "/api/admin/security-events"):
        assert path in doc["paths"], path
    assert api.spec.checked > 100
