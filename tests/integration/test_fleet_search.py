"""Fleet search end to end (GET /api/devices?q=, GET /api/devices/aggregate): real devices (paho,
MQTT v5 over mutual TLS, activated by JITR) report their shadows through mosquitto; the owner, another
user and an admin search over the registry, the shadows and connectivity. A table of queries and
the serials they must return, owner scoping, paging, 422 with the position of a syntax error,
the three aggregations, and every response checked against /api/openapi.json."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from harness import running_instance, wait_for  # noqa: F401
from test_accounts import Api
from test_devices import OneOfOpenApi
from test_jitr import Users, register, wait_status
from test_shadow import ShadowDevice

MODEL = "25HNB9"
# serial: (owner, deviceName, catalog details, reported state)
FLEET = {
    "SN-F001": ("alice", "Kitchen", {"color": "red", "fw": 3},
                {"powerStatus": "HEAT", "actualTemperature": 85, "targetTemperature": 72}),
    "SN-F002": ("alice", "Bedroom", {"color": "blue", "fw": 4},
                {"powerStatus": "AC", "actualTemperature": 70, "targetTemperature": 68}),
    "SN-F003": ("alice", "Kitchen-2", {"color": "red", "fw": 4},
                {"powerStatus": "OFF", "actualTemperature": 78, "targetTemperature": 70}),
    "SN-F004": ("alice", "Office", {"color": "green", "fw": 5},
                {"powerStatus": "HEAT", "actualTemperature": 65, "targetTemperature": 75}),
    "SN-F005": ("bob", "Kitchen", {"color": "red", "fw": 3},
                {"powerStatus": "HEAT", "actualTemperature": 90, "targetTemperature": 72}),
}
ALICE = ["SN-F001", "SN-F002", "SN-F003", "SN-F004"]


class AllOfOpenApi(OneOfOpenApi):
    """The devices suite's validator plus `allOf` (SearchError = Error + position)."""

    def validate(self, value, schema, where):
        schema = self.resolve(schema)
        if "allOf" in schema:
            for sub in schema["allOf"]:
                self.validate(value, sub, where)
            return
        super().validate(value, schema, where)


@pytest.fixture(scope="module")
def inst():
    yield from running_instance(jitr=True)


@pytest.fixture(scope="module")
def api(inst):
    a = Api(inst)
    a.spec = AllOfOpenApi(a.spec.doc)
    return a


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    admin = u.add("search-admin@example.com", admin=True)
    for name in ("alice", "bob", "carol"):
        u.add(f"{name}@example.com")
    for serial, (_, _, details, _) in FLEET.items():
        status, _, body = api("POST", "/api/admin/catalog",
                              {"deviceId": serial, "modelNumber": MODEL, "details": details},
                              token=admin)
        assert status == 201, body
    return u


def token(users, name):
    return users.tokens["search-admin@example.com" if name == "admin" else f"{name}@example.com"]


@pytest.fixture(scope="module")
def fleet(inst, api, users):
    """Every device registered by its owner, connected, and with its state reported; SN-F003 then
    goes offline."""
    devices = {}
    for serial, (owner, name, _, reported) in FLEET.items():
        register(api, token(users, owner), serial, name=name)
        d = ShadowDevice(inst, serial)
        wait_status(api, token(users, owner), serial, "complete")
        d.subscribe()
        d.send("update", {"state": {"reported": reported}})
        assert d.reply("update/accepted")["version"] == 1
        devices[serial] = d
    devices.pop("SN-F003").close()
    # Presence is asynchronous: wait until the search itself sees the device offline.
    wait_for(lambda: search(api, token(users, "alice"), "connectivity.connected:false")
             == ["SN-F003"], 15, "SN-F003 offline")
    yield devices
    for d in devices.values():
        d.close()


def search_page(api, tok, q, limit=None, cursor=None, expect=200):
    path = "/api/devices?q=" + quote(q, safe="")
    if limit is not None:
        path += f"&limit={limit}"
    if cursor is not None:
        path += "&lastevalkey=" + quote(cursor, safe="")
    status, _, body = api("GET", path, token=tok)
    assert status == expect, (q, body)
    return body


def search(api, tok, q):
    """Every serial the query returns (following LastEvaluatedKey)."""
    out, cursor = [], None
    while True:
        page = search_page(api, tok, q, limit=100, cursor=cursor)
        out += [item["thingName"] for item in page["Items"]]
        cursor = page.get("LastEvaluatedKey")
        if not cursor:
            return out


QUERIES = [
    ("thingName:SN-F001", ["SN-F001"]),
    ("thingName:SN-F*", ALICE),
    ("thingName:SN-F00?", ALICE),
    ("thingName:sn-f*", []),
    ("deviceName:Kitchen", ["SN-F001"]),
    ("deviceName:Kitchen*", ["SN-F001", "SN-F003"]),
    ('deviceName:"Kitchen-2"', ["SN-F003"]),
    ("attributes.color:red", ["SN-F001", "SN-F003"]),
    ("attributes.fw:4", ["SN-F002", "SN-F003"]),
    ("attributes.fw>=4 AND attributes.color:red", ["SN-F003"]),
    ("attributes.modelNumber:25HNB9", ALICE),
    ("shadow.reported.powerStatus:HEAT", ["SN-F001", "SN-F004"]),
    ("shadow.reported.actualTemperature>80", ["SN-F001"]),
    ("shadow.reported.actualTemperature:[70 TO 80]", ["SN-F002", "SN-F003"]),
    ("shadow.reported.actualTemperature:{70 TO 80]", ["SN-F003"]),
    ("shadow.reported.actualTemperature:[* TO 70]", ["SN-F002", "SN-F004"]),
    ("connectivity.connected:true", ["SN-F001", "SN-F002", "SN-F004"]),
    ("connectivity.connected:false", ["SN-F003"]),
    ("shadow.reported.powerStatus:HEAT AND connectivity.connected:true", ["SN-F001", "SN-F004"]),
    ("shadow.reported.powerStatus:HEAT OR shadow.reported.powerStatus:OFF",
     ["SN-F001", "SN-F003", "SN-F004"]),
    ("NOT shadow.reported.powerStatus:HEAT", ["SN-F002", "SN-F003"]),
    ("(deviceName:Kitchen* OR deviceName:Office) AND NOT attributes.color:green",
     ["SN-F001", "SN-F003"]),
    ("shadow.reported.powerStatus:HEAT shadow.reported.targetTemperature<73", ["SN-F001"]),
    ('deviceName:"x\' OR 1=1 --"', []),
]


@pytest.mark.parametrize("q,expected", QUERIES, ids=[q for q, _ in QUERIES])
def test_query_table_as_owner(api, users, fleet, q, expected):
    assert search(api, token(users, "alice"), q) == expected


def test_owner_scope_other_user_and_admin(api, users, fleet):
    q = "shadow.reported.powerStatus:HEAT"
    assert search(api, token(users, "bob"), q) == ["SN-F005"]
    assert search(api, token(users, "carol"), q) == []
    assert search(api, token(users, "carol"), "thingName:*") == []
    assert search(api, token(users, "admin"), q) == ["SN-F001", "SN-F004", "SN-F005"]
    assert search(api, token(users, "admin"), "deviceName:Kitchen") == ["SN-F001", "SN-F005"]


def test_items_are_thing_documents_with_connectivity(api, users, fleet):
    page = search_page(api, token(users, "alice"), "thingName:SN-F003 OR thingName:SN-F004")
    assert page["Count"] == 2 and "LastEvaluatedKey" not in page
    f3, f4 = page["Items"]
    assert f3["thingName"] == "SN-F003" and f3["connectivity"]["connected"] is False
    assert f4["attributes"]["deviceName"] == "Office" and f4["connectivity"]["connected"] is True


def test_paging(api, users, fleet):
    tok = token(users, "admin")
    seen, cursor, pages = [], None, 0
    while True:
        page = search_page(api, tok, "thingName:SN-F*", limit=2, cursor=cursor)
        assert page["Count"] == len(page["Items"]) <= 2
        seen += [i["thingName"] for i in page["Items"]]
        pages += 1
        cursor = page.get("LastEvaluatedKey")
        if not cursor:
            break
    assert pages == 3 and seen == sorted(FLEET)
    body = search_page(api, tok, "thingName:SN-F*", cursor="not-a-cursor", expect=400)
    assert body["error"] == "InvalidCursor"
    body = search_page(api, tok, "thingName:SN-F*", limit=0, expect=422)
    assert body["error"] == "InvalidLimit"
    # Without q (or with a blank one) the route is the plain listing, as before.
    status, _, plain = api("GET", "/api/devices?q=%20", token=token(users, "alice"))
    assert status == 200 and isinstance(plain, list) and len(plain) == 4


def test_index_follows_shadow_updates(api, users, fleet):
    alice = token(users, "alice")
    d = fleet["SN-F004"]
    d.send("update", {"state": {"reported": {"actualTemperature": 95}}})
    d.reply("update/accepted")
    assert search(api, alice, "shadow.reported.actualTemperature>80") == ["SN-F001", "SN-F004"]
    status, _, body = api("PATCH", "/api/devices/SN-F002/shadow",
                          {"state": {"desired": {"targetTemperature": 74}}}, token=alice)
    assert status == 200, body
    assert search(api, alice, "shadow.desired.targetTemperature:74") == ["SN-F002"]
    d.send("update", {"state": {"reported": {"actualTemperature": 65}}})
    d.reply("update/accepted")
    assert search(api, alice, "shadow.reported.actualTemperature>80") == ["SN-F001"]


@pytest.mark.parametrize("q,position", [
    ("thingName:SN-F001 AND", 21),
    ("(deviceName:Kitchen", 0),
    ("color:red", 0),
    ("shadow.reported.actualTemperature:[70 80]", 38),
    ('deviceName:"open', 11),
    ("connectivity.connected:maybe", 23),
])
def test_syntax_error_is_422_with_position(api, users, q, position):
    body = search_page(api, token(users, "alice"), q, expect=422)
    assert body["error"] == "InvalidSearchQuery"
    assert body["position"] == position
    assert f"position {position}" in body["message"]


def test_limits_are_422(api, users):
    long_query = "thingName:" + "a" * 1100
    body = search_page(api, token(users, "alice"), long_query, expect=422)
    assert body["error"] == "InvalidSearchQuery" and body["position"] == 1024
    many = " OR ".join(f"thingName:x{i}" for i in range(17))
    body = search_page(api, token(users, "alice"), many, expect=422)
    assert "more than 16 terms" in body["message"]


def aggregate(api, tok, expect=200, **params):
    path = "/api/devices/aggregate?" + "&".join(f"{k}={quote(str(v), safe='')}"
                                                for k, v in params.items())
    status, _, body = api("GET", path, token=tok)
    assert status == expect, (params, body)
    return body


def test_aggregations(api, users, fleet):
    alice, admin = token(users, "alice"), token(users, "admin")
    assert aggregate(api, alice) == {"count": 4}
    assert aggregate(api, alice, q="shadow.reported.powerStatus:HEAT", type="count") == {"count": 2}
    assert aggregate(api, admin, q="shadow.reported.powerStatus:HEAT") == {"count": 3}
    assert aggregate(api, token(users, "carol")) == {"count": 0}
    stats = aggregate(api, admin, q="shadow.reported.powerStatus:HEAT", type="stats",
                      field="shadow.reported.actualTemperature")["statistics"]
    assert stats["count"] == 3
    assert stats["minimum"] == 65 and stats["maximum"] == 90 and stats["sum"] == 240
    assert stats["average"] == 80
    assert abs(stats["variance"] - (25 + 225 + 100) / 3) < 1e-9
    assert aggregate(api, alice, type="cardinality",
                     field="shadow.reported.powerStatus") == {"cardinality": 3}
    assert aggregate(api, admin, type="cardinality", field="attributes.color") == {"cardinality": 3}
    assert aggregate(api, alice, type="cardinality", field="connectivity.connected") == \
        {"cardinality": 2}
    empty = aggregate(api, alice, q="thingName:none", type="stats",
                      field="shadow.reported.actualTemperature")
    assert empty == {"statistics": {"count": 0}}


def test_aggregation_errors(api, users):
    alice = token(users, "alice")
    for params in ({"type": "median"}, {"type": "stats"}, {"type": "cardinality"},
                   {"type": "stats", "field": "deviceName"},
                   {"type": "cardinality", "field": "nope"}):
        assert aggregate(api, alice, expect=422, **params)["error"] == "InvalidAggregation"
    body = aggregate(api, alice, expect=422, q="thingName:(")
    assert body["error"] == "InvalidSearchQuery" and body["position"] == 10


def test_aggregate_is_not_a_device_id(api, users):
    status, _, body = api("GET", "/api/devices/aggregate", token=token(users, "alice"))
    assert status == 200 and "count" in body
    status, _, _ = api("GET", "/api/devices/aggregate", check=False)
    assert status == 401
