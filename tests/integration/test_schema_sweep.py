"""Issue 10, finding 12: every field of every route's JSON body is validated, with the OpenAPI
document as the schema. For each documented request body this sweep starts from a body the
server accepts, then breaks one field at a time in every way the document forbids (wrong JSON type,
null where not nullable, too long or short, outside an enum or a pattern or a range, a required
field left out, a body that is not an object) and requires a 400/413/422 JSON error for each. A
2xx means the server accepted what its own document says is invalid (and acted on it); a 5xx is a
crash path. At the end each base body is sent as is and must be accepted, so no case passes only
because its base was already wrong. Real instance, real TLS client; the error bodies are checked
against the error catalogue by `Api`."""

from __future__ import annotations

import copy
import json
import re
from urllib.parse import urlencode

import pytest

from harness import running_instance
from test_accounts import Api, ctl, login
from test_events_alerts import EventDevice
from test_jitr import PASSWORD, Users, add_to_catalog, register

# The sweep sends hundreds of bad requests from one address: the abuse limits of the public
# routes would answer 429 long before it ends (they have their own tests).
LIMITS_OFF = {
    "public_rate_per_address_per_min": 1000000,
    "public_burst_per_address": 1000000,
    "public_rate_global_per_min": 1000000,
    "public_burst_global": 1000000,
    "max_failed_logins_per_account": 100000,
    "max_failed_logins_per_address": 1000000,
    "max_code_failures_per_account": 100000,
    "max_code_failures_per_address": 1000000,
    "max_codes_per_account": 100000,
    "max_codes_per_address": 1000000,
}
REFUSED = {400, 413, 422}
WRONG_TYPES = {
    "string": [123, True, {}, ["x"]],
    "boolean": ["true", 1, {}],
    "integer": ["1", 1.5, True, {}],
    "number": ["1", True, {}],
    "object": [["x"], "x", 1, True],
    "array": [{}, "x", 1],
}


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(jitr=True, settings={"identity": LIMITS_OFF})


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def world(inst, api):
    """Accounts, a registered device, a CA and the ids the routes' paths need."""
    users = Users(api)
    admin = users.add("sweep-admin@example.com", admin=True)
    owner = users.add("sweep-owner@example.com")
    users.add("sweep-other@example.com")
    changer = users.add("sweep-changer@example.com")
    add_to_catalog(api, admin, ["SN-SW01", "SN-SW02"])
    register(api, owner, "SN-SW01")
    out = ctl(inst, "ca", "create", "--name", "sweep", "--config", str(inst.config))
    assert out.returncode == 0, out.stdout + out.stderr
    _, _, cas = api("GET", "/api/admin/cas", token=admin)
    ca_id = next(c["caId"] for c in cas["Items"] if c["name"] == "sweep")
    # One stored event of the owner's device, for the event routes.
    device = EventDevice(inst, "SN-SW01")
    try:
        device.event(type_="warning")
    finally:
        device.close()
    status, _, events = api("GET", "/api/devices/SN-SW01/events", token=owner)
    assert status == 200 and events["Items"], events
    return {"users": users, "admin": admin, "owner": owner, "changer": changer, "ca": ca_id,
            "event": events["Items"][0]["id"]}


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def pattern_violations(pattern: str) -> list[str]:
    """Strings the pattern refuses: characters outside the usual classes, and one too many."""
    candidates = ["", "has space", "t\u00e9l\u00e9", "a\tb", "x" * 300]
    if m := re.search(r"\{(\d+),(\d+)\}\$$", pattern):
        candidates.append("a" * (int(m.group(2)) + 1))
    return [c for c in candidates if not re.search(pattern, c)]


def matches(doc: dict, value, schema: dict) -> bool:
    """Whether `value` is valid under the (subset of) JSON Schema the document uses."""
    schema = resolve(doc, schema)
    if value is None:
        return bool(schema.get("nullable")) or not schema.get("type") and "oneOf" not in schema
    if "oneOf" in schema:
        return any(matches(doc, value, alt) for alt in schema["oneOf"])
    t = schema.get("type")
    kinds = {"object": dict, "array": list, "string": str}
    if t in kinds and not isinstance(value, kinds[t]):
        return False
    if t == "boolean" and not isinstance(value, bool):
        return False
    if t in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if t == "integer" and not isinstance(value, int):
            return False
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if t == "string":
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            return False
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
    if t == "array":
        if len(value) > schema.get("maxItems", len(value)):
            return False
        return all(matches(doc, v, schema.get("items", {})) for v in value)
    if t == "object":
        if any(k not in value for k in schema.get("required", [])):
            return False
        props = schema.get("properties", {})
        return all(matches(doc, v, props[k]) for k, v in value.items() if k in props)
    return True


def bad_values(doc: dict, schema: dict) -> list:
    """Values the (resolved) schema forbids, one of each kind it states; each checked with
    matches() so that the sweep never sends a value the document allows."""
    schema = resolve(doc, schema)
    out = [True, {}, ["x"], 1.5, 7, "x", None] if "oneOf" in schema else []
    t = schema.get("type")
    out += WRONG_TYPES.get(t, [])
    if t is not None:
        out.append(None)
    if "enum" in schema:
        out.append(False if t == "boolean" else "__not_in_the_enum__")
    if t == "string":
        if "maxLength" in schema:
            out.append("a" * (schema["maxLength"] + 1))
        if schema.get("minLength", 0) > 0:
            out.append("a" * (schema["minLength"] - 1))
        if "pattern" in schema:
            out += pattern_violations(schema["pattern"])
    if t in ("integer", "number"):
        if "minimum" in schema:
            out.append(schema["minimum"] - 1)
        if "maximum" in schema:
            out.append(schema["maximum"] + 1)
    if t == "array":
        items = resolve(doc, schema.get("items", {}))
        out += [[v] for v in bad_values(doc, items) if v is not None][:3]
        if "maxItems" in schema:
            out.append(["x"] * (schema["maxItems"] + 1))
    return [v for v in out if not matches(doc, v, schema)]


def mutations(doc: dict, schema: dict, base: dict, path: tuple = ()):
    """(description, body) pairs: `base` with one field broken (nested objects one level down)."""
    schema = resolve(doc, schema)
    for key, sub in schema.get("properties", {}).items():
        where = ".".join(path + (key,))
        for value in bad_values(doc, sub):
            body = copy.deepcopy(base)
            target = body
            for p in path:
                target = target[p]
            target[key] = value
            yield f"{where} = {value!r:.40}", body
        sub_schema = resolve(doc, sub)
        if sub_schema.get("type") == "object" and "properties" in sub_schema:
            nested_base = copy.deepcopy(base)
            target = nested_base
            for p in path:
                target = target[p]
            target.setdefault(key, {})
            if isinstance(target[key], dict):
                yield from mutations(doc, sub_schema, nested_base, path + (key,))
    for key in schema.get("required", []):
        body = copy.deepcopy(base)
        target = body
        for p in path:
            target = target[p]
        if key in target:
            del target[key]
            yield f"{'.'.join(path + (key,))} missing", body


def cases(inst, api, world):
    """(method, path template, path, token, base body, base accepted?) for every documented body."""
    users = world["users"]
    admin, owner, changer = world["admin"], world["owner"], world["changer"]
    owner_id = users.ids["sweep-owner@example.com"]
    other_id = users.ids["sweep-other@example.com"]
    refresh = login(api, "sweep-owner@example.com", PASSWORD)[0]["refreshToken"]
    logout_token = login(api, "sweep-owner@example.com", PASSWORD)[0]["refreshToken"]
    ca = world["ca"]
    return [
        ("POST", "/api/registration", "/api/registration", owner,
         {"deviceId": "SN-SW02", "deviceName": "sweep", "modelNumber": "25HNB9"}, True),
        ("POST", "/api/auth/signup", "/api/auth/signup", None,
         {"email": "sweep-new@example.com", "password": "a long sweep password", "name": "Sweep",
          "phone": "+15551234567"}, True),
        ("POST", "/api/auth/verify", "/api/auth/verify", None,
         {"email": "sweep-new@example.com", "code": "00000000"}, False),
        ("POST", "/api/auth/verify/resend", "/api/auth/verify/resend", None,
         {"email": "sweep-new@example.com"}, True),
        ("POST", "/api/auth/login", "/api/auth/login", None,
         {"email": "sweep-owner@example.com", "password": PASSWORD}, True),
        ("POST", "/api/auth/refresh", "/api/auth/refresh", None, {"refreshToken": refresh}, True),
        ("POST", "/api/auth/logout", "/api/auth/logout", None, {"refreshToken": logout_token}, True),
        ("POST", "/api/auth/password/forgot", "/api/auth/password/forgot", None,
         {"email": "sweep-owner@example.com"}, True),
        ("POST", "/api/auth/password/reset", "/api/auth/password/reset", None,
         {"email": "sweep-owner@example.com", "code": "00000000",
          "newPassword": "a new sweep password"}, False),
        ("PUT", "/api/admin/settings/config/{settingId}", f"/api/admin/settings/config/{owner_id}",
         admin, {"alertLevel": ["info", "error"], "sendNotification": True}, True),
        ("PATCH", "/api/admin/users/{id}", f"/api/admin/users/{other_id}", admin,
         {"enabled": True, "role": "user"}, True),
        # Without a CA to register, the base is refused too (bad PEM): only "never 2xx/5xx".
        ("POST", "/api/admin/cas", "/api/admin/cas", admin,
         {"caCertificate": "not a pem", "verificationCertificate": "not a pem", "name": "ok-name",
          "setAsActive": False, "allowAutoRegistration": False}, False),
        ("PATCH", "/api/admin/cas/{caId}", f"/api/admin/cas/{ca}", admin,
         {"status": "ACTIVE", "autoRegistration": True}, True),
        ("POST", "/api/admin/catalog", "/api/admin/catalog", admin,
         {"deviceId": "SN-SW03", "modelNumber": "25HNB9", "details": {"k": 1},
          "claimCode": "sweep-claim-code", "caId": ca}, True),
        ("PATCH", "/api/devices/{deviceId}/shadow", "/api/devices/SN-SW01/shadow", owner,
         {"state": {"desired": {"targetTemperature": 70}}, "clientToken": "sweep"}, True),
        ("POST", "/api/devices/{deviceId}/commands", "/api/devices/SN-SW01/commands", owner,
         {"commandDetails": {"command": "set-temp", "value": 70},
          "shadowDetails": {"powerStatus": "HEAT", "targetTemperature": 70}, "ttlSeconds": 60},
         True),
        ("POST", "/api/events/ack", "/api/events/ack", owner, {"all": True, "eventType": "info"},
         True),
        ("PUT", "/api/devices/{deviceId}/events/{eventId}",
         f"/api/devices/SN-SW01/events/{world['event']}", owner,
         {"ack": True, "suppress": False, "id": world["event"]}, True),
        ("PATCH", "/api/devices/{deviceId}/events/{eventId}",
         f"/api/devices/SN-SW01/events/{world['event']}", owner, {"ack": False}, True),
        ("PUT", "/api/notifications/channels", "/api/notifications/channels", owner,
         {"emailEnabled": True, "smsEnabled": False, "phone": "+15551234567",
          "webhookUrl": None, "rotateWebhookSecret": False}, True),
        ("POST", "/api/admin/datasets", "/api/admin/datasets", admin,
         {"name": "sweep-ds", "query": "SELECT deviceId, t FROM telemetry", "schedule": "off",
          "format": "jsonl", "retentionDays": 7, "enabled": False}, True),
        ("PUT", "/api/admin/datasets/{name}", "/api/admin/datasets/smartproduct_dataset", admin,
         {"query": "SELECT * FROM telemetry", "schedule": "rate(1 hour)", "format": "csv",
          "retentionDays": 30, "enabled": True}, True),
        ("PUT", "/api/admin/security-profiles", "/api/admin/security-profiles", admin,
         {"profiles": [{"name": "sweep", "model": None, "rules": [
             {"name": "flood", "metric": "messages-sent", "comparison": "greater-than",
              "value": 600, "durationSeconds": 300, "action": "notify",
              "clearAfterSeconds": 600}]}]}, True),
        ("PUT", "/api/admin/quarantine/{deviceId}", "/api/admin/quarantine/SN-SW01", admin,
         {"reason": "sweep"}, True),
        # Last: it changes the account's password (and so ends its tokens).
        ("POST", "/api/auth/password/change", "/api/auth/password/change", changer,
         {"currentPassword": PASSWORD, "newPassword": "another sweep password"}, True),
    ]


def test_every_documented_body_field_is_validated(inst, api, world):
    doc = api.spec.doc
    covered = set()
    wrong = []
    for method, template, path, token, base, accepted in cases(inst, api, world):
        op = doc["paths"][template][method.lower()]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        covered.add((method, template))
        sent = [("not an object: " + repr(v)[:20], v) for v in ([], "x", 1, None)]
        sent += list(mutations(doc, schema, base))
        assert len(sent) > 4, f"{method} {template}: no field mutations generated"
        for what, body in sent:
            # Encoded here: the harness encodes only objects and arrays itself.
            status, _, reply = api(method, path, json.dumps(body).encode(), token=token,
                                   headers={"Content-Type": "application/json"})
            if status not in REFUSED:
                wrong.append(f"{method} {template}: {what} -> {status} {str(reply)[:120]}")
        if accepted:
            status, _, reply = api(method, path, base, token=token)
            if not 200 <= status < 300:
                wrong.append(f"{method} {template}: the base body was refused: {reply}")
    assert not wrong, "accepted or crashed on bodies the OpenAPI document forbids:\n" + "\n".join(wrong)
    # What a schema cannot say: an event update naming another event than its path is refused.
    status, _, reply = api("PATCH", f"/api/devices/SN-SW01/events/{world['event']}",
                           {"ack": True, "id": "another-event"}, token=world["owner"])
    assert status == 400 and reply["error"] == "InvalidField", reply

    # Every documented request body is in the sweep, except the audit's, which need a live
    # finding (test_audit.py covers their errors).
    documented = {(m.upper(), t) for t, item in doc["paths"].items() for m, op in item.items()
                  if isinstance(op, dict) and "requestBody" in op}
    skipped = {("PUT", "/api/admin/audit/findings/{findingId}"),
               ("POST", "/api/admin/audit/findings/{findingId}/actions")}
    assert documented - skipped == covered, documented - skipped ^ covered


def bad_query_values(schema: dict) -> list[str]:
    """Query strings the parameter's schema forbids."""
    t = schema.get("type")
    out = []
    if t == "integer":
        out += ["abc", "1.5", "", "0x10", "99999999999999999999999"]
        if "minimum" in schema:
            out.append(str(schema["minimum"] - 1))
        if "maximum" in schema:
            out.append(str(schema["maximum"] + 1))
    if t == "boolean":
        out += ["maybe", "2"]
    if "enum" in schema:
        out.append("__not_in_the_enum__")
    if t == "string" and "maxLength" in schema:
        out.append("a" * (schema["maxLength"] + 1))
    return out


def test_every_documented_query_parameter_is_validated(inst, api, world):
    doc = api.spec.doc
    params = doc["components"].get("parameters", {})
    paths = {"{deviceId}": "SN-SW01", "{eventId}": world["event"], "{name}": "smartproduct_dataset"}
    tokens = {True: world["admin"], False: world["owner"]}
    wrong, sent = [], 0
    for template, item in doc["paths"].items():
        for method, op in item.items():
            if method != "get" or not isinstance(op, dict):
                continue
            path = template
            for name, value in paths.items():
                path = path.replace(name, value)
            if "{" in path:
                continue  # no query parameters on the other templated GET routes
            token = tokens[template.startswith("/api/admin/")]
            for p in item.get("parameters", []) + op.get("parameters", []):
                while "$ref" in p:
                    p = params[p["$ref"].rsplit("/", 1)[-1]]
                if p.get("in") != "query":
                    continue
                for value in bad_query_values(p.get("schema", {})):
                    target = f"{path}?{urlencode({p['name']: value})}"
                    status, _, reply = api("GET", target, token=token)
                    sent += 1
                    if status not in REFUSED:
                        wrong.append(f"GET {target[:80]} -> {status} {str(reply)[:100]}")
    assert sent > 50, sent
    assert not wrong, "query values the OpenAPI document forbids were not refused:\n" + "\n".join(wrong)
