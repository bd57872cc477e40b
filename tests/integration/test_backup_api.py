"""Issue 16 item 4, the daemon's side: POST /api/admin/backups while a device publishes, the archive
downloaded over the API restores (`smartproductctl restore`) into a new instance that starts with
every row acknowledged before the backup; one backup at a time (409); admins only; retention keeps
[backup] keep archives; a short [backup] schedule makes backups by itself."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tarfile
import threading
from pathlib import Path

import pytest

from devices import count, issue_cert, metric
from harness import Instance, running_instance, wait_for
from test_accounts import Api
from test_backup import RestoredInstance, ctl, sim_publish, stop_with_broker, workdir  # noqa: F401
from test_crash import stored_seqs
from test_jitr import Users

ADMIN = "backup-admin@example.com"
USER = "backup-user@example.com"


def backups_dir(inst) -> Path:
    return inst.dir / "data" / "backups"


def archives(inst) -> list[str]:
    return sorted(p.name for p in backups_dir(inst).glob("smartproduct-*.tar.gz"))


def start_backup(api, token) -> dict:
    status, headers, body = api("POST", "/api/admin/backups", token=token)
    assert status == 202, body
    assert body["status"] == "running"
    assert headers.get("location") == f"/api/admin/backups/{body['id']}"
    return body


def finished(api, token, backup_id, timeout=120) -> dict:
    result = {}

    def done():
        status, _, body = api("GET", f"/api/admin/backups/{backup_id}", token=token)
        assert status == 200, body
        result.update(body)
        return body["status"] != "running"

    wait_for(done, timeout, f"backup {backup_id}", interval=0.1)
    return result


def download(inst, token, backup_id, dest: Path) -> Path:
    conn = inst.connection(timeout=60)
    try:
        conn.request("GET", f"/api/admin/backups/{backup_id}/download",
                     headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        assert resp.getheader("content-type") == "application/gzip"
        with open(dest, "wb") as f:
            while chunk := resp.read(1 << 16):
                f.write(chunk)
    finally:
        conn.close()
    return dest


# --- one instance for the API's rules ------------------------------------------------------------

@pytest.fixture(scope="module")
def inst():
    yield from running_instance(settings={"backup": {"schedule": "off", "keep": 2}})


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    u.add(ADMIN, admin=True)
    u.add(USER)
    return u


def test_admins_only(inst, api, users):
    for method, path in [("POST", "/api/admin/backups"), ("GET", "/api/admin/backups"),
                         ("GET", "/api/admin/backups/20240101-000000-000"),
                         ("GET", "/api/admin/backups/20240101-000000-000/download"),
                         ("DELETE", "/api/admin/backups/20240101-000000-000")]:
        assert api(method, path)[0] == 401, (method, path)
        assert api(method, path, token=users.tokens[USER])[0] == 403, (method, path)
    assert archives(inst) == []


def test_one_backup_at_a_time(inst, api, users):
    token = users.tokens[ADMIN]
    # Incompressible state in the data directory makes the backup take long enough (hundreds of
    # ms) that requests released together all arrive while it runs.
    filler = inst.dir / "data" / "filler.bin"
    filler.write_bytes(os.urandom(24 << 20))
    try:
        barrier = threading.Barrier(4)
        results = []

        def post():
            barrier.wait()
            results.append(api("POST", "/api/admin/backups", token=token))

        threads = [threading.Thread(target=post) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r[0] for r in results)
        assert statuses == [202, 409, 409, 409], statuses
        conflict = next(r[2] for r in results if r[0] == 409)
        assert conflict["error"] == "BackupRunning"
        started = next(r[2] for r in results if r[0] == 202)
        # While it runs: no download, no delete.
        status, _, body = api("GET", f"/api/admin/backups/{started['id']}/download", token=token)
        assert status in (409, 200), body
        done = finished(api, token, started["id"])
        assert done["status"] == "completed", done
        assert done["size"] > 24 << 20
    finally:
        filler.unlink()


def test_retention_keeps_n_and_ids_map_to_files(inst, api, users):
    token = users.tokens[ADMIN]
    made = []
    for _ in range(3):
        made.append(finished(api, token, start_backup(api, token)["id"]))
        assert made[-1]["status"] == "completed", made[-1]
    # keep = 2: after each successful backup the oldest beyond two are deleted.
    assert archives(inst) == sorted(b["file"] for b in made[1:])
    status, _, page = api("GET", "/api/admin/backups?limit=1", token=token)
    assert status == 200 and page["Count"] == 1 and page["Items"][0]["id"] == made[2]["id"]
    status, _, rest = api("GET", f"/api/admin/backups?lastevalkey={page['LastEvaluatedKey']}",
                          token=token)
    assert [b["id"] for b in rest["Items"]] == [made[1]["id"]]
    assert "LastEvaluatedKey" not in rest
    assert api("GET", f"/api/admin/backups/{made[0]['id']}", token=token)[0] == 404

    # Ids are start times and nothing else: no path reaches another file.
    for bad in ["20240101-000000-000", "x", f"{made[2]['id']}.tar.gz", "smartproduct.toml"]:
        status, _, body = api("GET", f"/api/admin/backups/{bad}/download", token=token)
        assert status == 404 and body["error"] == "BackupNotFound", (bad, body)

    status, _, _ = api("DELETE", f"/api/admin/backups/{made[1]['id']}", token=token)
    assert status == 204
    assert archives(inst) == [made[2]["file"]]
    assert api("DELETE", f"/api/admin/backups/{made[1]['id']}", token=token)[0] == 404

    assert metric(inst, "smartproduct_backups_total") >= 4
    assert metric(inst, "smartproduct_backup_failures_total") == 0
    assert metric(inst, "smartproduct_backup_last_size_bytes") == made[2]["size"]
    assert metric(inst, "smartproduct_backup_last_success_timestamp_seconds") > 0


# --- the backup taken over the API restores ------------------------------------------------------

def test_backup_during_ingest_downloads_and_restores(workdir):
    inst = Instance(settings={"backup": {"schedule": "off"}})
    restored = None
    try:
        inst.start()
        api = Api(inst)
        users = Users(api)
        token = users.add(ADMIN, admin=True)
        serial = "SN-BACKUP-API"
        issue_cert(inst, serial)
        sim = sim_publish(inst, serial, 6, workdir / "acks.log")
        try:
            wait_for(lambda: count(inst, "SELECT count(*) FROM telemetry", name="telemetry.db") > 200,
                     60, "ingest under way")
            committed_before = set(stored_seqs(inst, serial))
            started = start_backup(api, token)
            done = finished(api, token, started["id"])
            ingesting = sim.poll() is None
            sim.communicate(timeout=120)
        finally:
            if sim.poll() is None:
                sim.kill()
                sim.wait()
        assert ingesting, "the backup must be taken while the device publishes"
        assert done["status"] == "completed", done
        assert done["trigger"] == "manual" and done["durationSeconds"] > 0

        archive = download(inst, token, done["id"], workdir / "downloaded.tar.gz")
        on_disk = backups_dir(inst) / done["file"]
        assert archive.stat().st_size == done["size"] == on_disk.stat().st_size
        assert hashlib.sha256(archive.read_bytes()).digest() == \
            hashlib.sha256(on_disk.read_bytes()).digest()
        assert oct(on_disk.stat().st_mode & 0o777) == "0o600"
        with tarfile.open(archive) as tar:
            names = tar.getnames()
            manifest = json.load(tar.extractfile("smartproduct-backup/manifest.json"))
        assert not [n for n in names if "/backups" in n], "the backups folder is not in backups"
        assert manifest["format"] == "smartproduct-backup"
        assert {"data/smartproduct.db", "data/telemetry.db"} <= set(manifest["databases"])

        stop_with_broker(inst)
        target = workdir / "restored"
        out = ctl("restore", archive, "--dir", target)
        assert out.returncode == 0, out.stderr
        assert "integrity ok" in out.stdout
        restored = RestoredInstance(target, inst)
        restored.start()
        with sqlite3.connect(target / "data" / "telemetry.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        with sqlite3.connect(target / "data" / "smartproduct.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # Every row committed before the backup started is in the restored instance.
        assert committed_before <= set(stored_seqs(restored, serial))
        # The restored instance's own list starts from the archives in its folder: none.
        status, _, page = Api(restored)("GET", "/api/admin/backups", token=token)
        assert status == 200 and page["Count"] == 0, page
    finally:
        if restored:
            restored.cleanup()
        inst.cleanup()


# --- the schedule ---------------------------------------------------------------------------------

def test_a_short_schedule_backs_up_by_itself_and_keeps_n():
    inst = Instance(settings={"backup": {"schedule": "every 1s", "keep": 2}})
    try:
        inst.start()
        wait_for(lambda: metric(inst, "smartproduct_backups_total") >= 3, 60,
                 "three scheduled backups", interval=0.2)
        assert metric(inst, "smartproduct_backup_failures_total") == 0
        api = Api(inst)
        token = Users(api).add(ADMIN, admin=True)
        _, _, page = api("GET", "/api/admin/backups", token=token)
        completed = [b for b in page["Items"] if b["status"] == "completed"]
        assert completed and all(b["trigger"] == "scheduled" for b in completed), page
        assert len(completed) <= 2
        # Stopping waits for a running backup and its retention: two archives are left.
        assert inst.stop() == 0
        assert len(archives(inst)) == 2, archives(inst)
        assert not [p for p in backups_dir(inst).iterdir() if p.name.startswith(".")]
    finally:
        inst.cleanup()
