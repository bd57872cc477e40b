"""Issue 16 item 5: upgrades. `smartproductctl migrate --dry-run` names what would run and changes
nothing; `migrate` applies it with the daemon's own runner; a database written by a newer version
is refused by both the CLI and the daemon with the versions named. The fixtures are real databases
of released schema versions (tests/unit/store/schema_fixtures, also migrated by upgrade_test)."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from harness import BIN, ROOT

FIXTURE = ROOT / "tests" / "unit" / "store" / "schema_fixtures" / "main-v0010.sql"


def ctl(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "smartproductctl"), *args], capture_output=True, text=True,
                          timeout=120)


def version(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def dump(db: Path) -> list[str]:
    # Contents, not bytes: opening switches a fresh file to WAL mode (the daemon's mode), which
    # rewrites the header's format bytes and nothing else.
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def make_instance(tmp_path: Path) -> tuple[Path, Path]:
    inst = tmp_path / "inst"
    assert ctl("init", "--dir", str(inst)).returncode == 0
    (inst / "data").mkdir(exist_ok=True)
    db = inst / "data" / "smartproduct.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(FIXTURE.read_text())
        # Back to the schema before the outbox existed: what a version-9 binary left behind.
        conn.executescript("DROP TABLE notification_outbox; PRAGMA user_version=9;")
    return inst, db


def test_dry_run_names_pending_migrations_and_changes_nothing(tmp_path):
    inst, db = make_instance(tmp_path)
    before = dump(db)
    out = ctl("migrate", "--dry-run", "--dir", str(inst))
    assert out.returncode == 0, out.stderr
    assert "version 9 of" in out.stdout and "0010_notification_outbox.sql" in out.stdout
    assert "telemetry.db: not created yet" in out.stdout
    assert dump(db) == before and version(db) == 9

    out = ctl("migrate", "--dir", str(inst))
    assert out.returncode == 0, out.stderr
    assert "migrated to version" in out.stdout
    assert version(db) >= 10
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM commands").fetchone()[0] > 0  # rows kept
    out = ctl("migrate", "--dry-run", "--dir", str(inst))
    assert "up to date" in out.stdout


def test_newer_database_is_refused_by_cli_and_daemon(tmp_path):
    inst, db = make_instance(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version=9999")
    out = ctl("migrate", "--dir", str(inst))
    assert out.returncode == 1
    assert "schema version 9999 is newer" in out.stderr
    assert version(db) == 9999

    daemon = subprocess.run([str(BIN / "smartproductd"), "--config", str(inst / "smartproduct.toml")],
                            capture_output=True, text=True, timeout=60)
    assert daemon.returncode != 0
    assert "9999" in daemon.stdout + daemon.stderr
    assert version(db) == 9999
