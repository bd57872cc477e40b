"""The reference catalog against the real daemon: `smartproductctl catalog import` (CSV and JSON
lines, bad rows, skip/replace, --all-or-nothing) while the daemon runs, then the admin API
(list/filter/page, get, POST, DELETE) with its errors, and every response checked against
/api/openapi.json."""

from __future__ import annotations

import json
import subprocess

import pytest

from harness import BIN, Instance
# The module-scoped instance fixtures and the CLI helper are shared with the accounts suite.
from test_accounts import Api, api, ctl, inst, login, verified_user  # noqa: F401

ADMIN_EMAIL = "catalog-admin@example.com"
ADMIN_PASSWORD = "catalog admin password"


@pytest.fixture(scope="module")
def admin(api):
    out = ctl(api.inst, "user", "add", "--config", str(api.inst.config), "--email", ADMIN_EMAIL,
              "--admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    return login(api, ADMIN_EMAIL, ADMIN_PASSWORD)[0]["accessToken"]


@pytest.fixture(scope="module")
def user(api):
    verified_user(api, "catalog-user@example.com")
    return login(api, "catalog-user@example.com")[0]["accessToken"]


def csv_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def import_file(inst, path, *flags):
    return ctl(inst, "catalog", "import", "--config", str(inst.config), *flags, str(path))


def list_all(api, token, query=""):
    items, cursor, pages = [], None, 0
    while True:
        q = "?limit=40" + query + (f"&lastevalkey={cursor}" if cursor else "")
        status, _, page = api("GET", "/api/admin/catalog" + q, token=token)
        assert status == 200, page
        assert page["Count"] == len(page["Items"])
        items += page["Items"]
        pages += 1
        cursor = page.get("LastEvaluatedKey")
        if not cursor:
            return items, pages


def test_cli_import_csv_with_bad_rows(api, admin):
    inst = api.inst
    lines = ["deviceId,modelNumber,details,claimCode"]
    for i in range(100):
        details = json.dumps({"model": "INFINITY 19, HEAT PUMP", "n": i})
        code = f"CLAIM-{i:04d}" if i % 10 == 0 else ""
        lines.append(f"SN-{i:04d},25HNB9,{csv_quote(details)},{code}")
    for i in range(30):
        lines.append(f"AX-{i:04d},AX/2,{{}},")
    lines.append('bad id,25HNB9,{},')                # row 131
    lines.append('SN-9999,25HNB9,"{not json}",')    # row 132
    lines.append("SN-0001,25HNB9,{},")               # row 133: duplicate of row 2
    path = inst.dir / "catalog.csv"
    path.write_text("\r\n".join(lines) + "\r\n")

    # --all-or-nothing: the bad rows stop everything.
    out = import_file(inst, path, "--all-or-nothing")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "nothing imported" in out.stdout
    status, _, _ = api("GET", "/api/admin/catalog/SN-0000/25HNB9", token=admin)
    assert status == 404

    out = import_file(inst, path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "row 131 (line 132)" in out.stderr and "deviceId" in out.stderr
    assert "row 132" in out.stderr and "row 133" in out.stderr and "duplicate of row 2" in out.stderr
    assert "imported 130 (new 130, replaced 0), skipped 0 existing, bad 3" in out.stdout
    assert "\r" not in out.stderr  # no progress bar when stderr is not a terminal

    # Again: every good row exists, so they are skipped and counted.
    out = import_file(inst, path)
    assert "imported 0 (new 0, replaced 0), skipped 130 existing, bad 3" in out.stdout


def test_cli_import_json_lines_from_stdin_with_replace(api, admin):
    rows = [json.dumps({"deviceId": "SN-0005", "modelNumber": "25HNB9",
                        "details": {"model": "replaced"}, "claimCode": "NEW-CODE"}),
            json.dumps({"deviceId": "JL-1", "modelNumber": "25HNB9"})]
    out = ctl(api.inst, "catalog", "import", "--config", str(api.inst.config), "--replace", "-",
              stdin="\n".join(rows) + "\n")
    assert out.returncode == 0, out.stderr
    assert "imported 2 (new 1, replaced 1)" in out.stdout
    status, _, e = api("GET", "/api/admin/catalog/SN-0005/25HNB9", token=admin)
    assert status == 200 and e["details"] == {"model": "replaced"} and e["hasClaimCode"] is True


def test_list_pages_and_filter(api, admin):
    items, pages = list_all(api, admin)
    assert len(items) == 131 and pages == 4
    keys = [(e["deviceId"], e["modelNumber"]) for e in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    for e in items:
        assert "claimCode" not in e and "claimCodeHash" not in e
        assert e["hasClaimCode"] == (e["deviceId"] in {f"SN-{i:04d}" for i in range(0, 100, 10)}
                                     | {"SN-0005"})

    ax, pages = list_all(api, admin, "&modelNumber=AX/2")
    assert len(ax) == 30 and pages == 1
    assert all(e["modelNumber"] == "AX/2" for e in ax)

    assert api("GET", "/api/admin/catalog?limit=101", token=admin)[0] == 422
    status, _, page = api("GET", "/api/admin/catalog?limit=100&lastevalkey=null", token=admin)
    assert status == 200 and page["Count"] == 100 and "LastEvaluatedKey" in page
    assert api("GET", "/api/admin/catalog?limit=0", token=admin)[0] == 422
    assert api("GET", "/api/admin/catalog?lastevalkey=garbage!", token=admin)[0] == 400


def test_get_one(api, admin):
    status, _, e = api("GET", "/api/admin/catalog/SN-0001/25HNB9", token=admin)
    assert status == 200
    assert e["details"] == {"model": "INFINITY 19, HEAT PUMP", "n": 1}
    assert e["hasClaimCode"] is False
    assert api("GET", "/api/admin/catalog/SN-0001/NOPE", token=admin)[0] == 404
    assert api("GET", "/api/admin/catalog/NOPE/25HNB9", token=admin)[0] == 404
    # A model number with '/' cannot travel encoded in a path (%2F is refused): query form.
    assert api("GET", "/api/admin/catalog/AX-0001/AX%2F2", token=admin)[0] == 404
    status, _, e = api("GET", "/api/admin/catalog/AX-0001?modelNumber=AX%2F2", token=admin)
    assert status == 200 and e["modelNumber"] == "AX/2"
    assert api("GET", "/api/admin/catalog/AX-0001", token=admin)[0] == 422


def test_post_and_delete(api, admin):
    body = {"deviceId": "NEW:01_a", "modelNumber": "25HNB9", "details": {"color": "red"},
            "claimCode": "ABCD-EFGH"}
    status, _, e = api("POST", "/api/admin/catalog", body, token=admin)
    assert status == 201, e
    assert e["hasClaimCode"] is True and "claimCode" not in e and e["details"] == {"color": "red"}
    status, _, err = api("POST", "/api/admin/catalog", body, token=admin)
    assert status == 409 and err["error"] == "CatalogEntryExists"

    for bad in ({"deviceId": "has space", "modelNumber": "M"},
                {"deviceId": "A", "modelNumber": "a b"},
                {"deviceId": "A", "modelNumber": "M", "details": [1]},
                {"deviceId": "A", "modelNumber": "M", "details": {"x": "y" * 17000}},
                {"deviceId": "A", "modelNumber": "M", "claimCode": "abc"},
                {"modelNumber": "M"}):
        status, _, err = api("POST", "/api/admin/catalog", bad, token=admin)
        assert status == 422 and err["error"] == "InvalidCatalogEntry", (bad, err)
    status, _, _ = api("POST", "/api/admin/catalog", b"{not json", token=admin,
                       headers={"Content-Type": "application/json"})
    assert status == 400

    # A serial with the URL-unsafe characters of the model charset round-trips through the path.
    status, _, _ = api("POST", "/api/admin/catalog", {"deviceId": "D1", "modelNumber": "A#1"},
                       token=admin)
    assert status == 201
    assert api("GET", "/api/admin/catalog/D1/A%231", token=admin)[0] == 200

    assert api("DELETE", "/api/admin/catalog/AX-0029?modelNumber=AX/2", token=admin)[0] == 204
    assert api("DELETE", "/api/admin/catalog/AX-0029?modelNumber=AX/2", token=admin)[0] == 404
    status, _, data = api("DELETE", "/api/admin/catalog/NEW:01_a/25HNB9", token=admin)
    assert status == 204
    assert api("DELETE", "/api/admin/catalog/NEW:01_a/25HNB9", token=admin)[0] == 404
    assert api("GET", "/api/admin/catalog/NEW:01_a/25HNB9", token=admin)[0] == 404


def test_admin_only(api, user):
    routes = [("GET", "/api/admin/catalog", None),
              ("POST", "/api/admin/catalog", {"deviceId": "U1", "modelNumber": "M"}),
              ("GET", "/api/admin/catalog/SN-0001/25HNB9", None),
              ("DELETE", "/api/admin/catalog/SN-0001/25HNB9", None)]
    for method, path, body in routes:
        assert api(method, path, body, token=user)[0] == 403, (method, path)
        assert api(method, path, body)[0] == 401, (method, path)
        assert api(method, path, body, token="not.a.token")[0] == 401, (method, path)
