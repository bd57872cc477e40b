"""Issue 16 item 4: `smartproductctl backup` while the daemon ingests, `restore` into a new directory,
and the restored instance starting with the same data and devices. Damaged archives, altered files and
newer schemas are refused with nothing left behind."""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from devices import count, issue_cert
from harness import BIN, Instance, free_port, kill_pid, wait_for
from test_crash import stored_seqs


def ctl(*args, timeout=120):
    return subprocess.run([str(BIN / "smartproductctl"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def sim_publish(inst, serial, duration, ack_log, cert_dir=None):
    return subprocess.Popen(
        [str(BIN / "smartproduct-sim"), "publish", "--host", "localhost", "--port",
         str(inst.mqtt_port), "--cafile", str(inst.ca), "--cert-dir", str(cert_dir or inst.dir / "devices"),
         "--devices", serial, "--duration", str(duration), "--inflight", "10", "--ack-log",
         str(ack_log), "--ack-log-flush-ms", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class RestoredInstance(Instance):
    """An instance directory made by `restore` (same ports as the original)."""

    def __init__(self, directory: Path, original: Instance):  # noqa: D107 - no init run
        self.dir = directory
        self.http_port = original.http_port
        self.mqtt_port = original.mqtt_port
        self.proc = None
        self.jitr = original.jitr
        self.config = self.dir / "smartproduct.toml"
        self.log_path = self.dir / "log" / "daemon.log"
        self.ca = self.dir / "pki" / "root-ca.crt"


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="sp-backup-"))
    d.chmod(0o755)  # the restored broker (user mosquitto when run as root) must reach it
    yield d
    if os.environ.get("SP_KEEP_TEST_DIRS") != "1":
        shutil.rmtree(d, ignore_errors=True)


def stop_with_broker(inst):
    broker = inst.broker_pid()
    inst.stop()
    if broker:
        kill_pid(broker)


def test_backup_during_ingest_restores_into_a_new_instance(instance, workdir):
    serial = "SN-BACKUP"
    issue_cert(instance, serial)
    sim = sim_publish(instance, serial, 6, workdir / "acks.log")
    try:
        wait_for(lambda: count(instance, "SELECT count(*) FROM telemetry", name="telemetry.db") > 200,
                 60, "ingest under way")
        committed_before = set(stored_seqs(instance, serial))
        archive = workdir / "instance.tar.gz"
        out = ctl("backup", "--dir", instance.dir, "--out", archive)
        assert out.returncode == 0, out.stderr
        assert "wrote" in out.stdout
        ingesting = sim.poll() is None
        sim.communicate(timeout=120)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
    assert ingesting, "the backup must be taken while the device publishes"
    stored_after = count(instance, "SELECT count(*) FROM telemetry", name="telemetry.db")

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("smartproduct-backup/manifest.json"))
    assert manifest["format"] == "smartproduct-backup"
    assert {"data/smartproduct.db", "data/telemetry.db"} <= set(manifest["databases"])
    listed = {f["path"] for f in manifest["files"]}
    assert {"smartproduct.toml", "pki/root-ca.key", "broker/mosquitto.conf"} <= listed
    snapshot_rows = manifest["databases"]["data/telemetry.db"]["rows"]["telemetry"]
    assert len(committed_before) <= snapshot_rows <= stored_after

    stop_with_broker(instance)
    target = workdir / "restored"
    out = ctl("restore", archive, "--dir", target)
    assert out.returncode == 0, out.stderr
    assert "integrity ok" in out.stdout
    assert not (target / "manifest.json").exists()
    assert str(instance.dir) not in (target / "broker" / "mosquitto.conf").read_text()
    assert oct((target / "pki" / "root-ca.key").stat().st_mode & 0o777) == "0o600"

    restored = RestoredInstance(target, instance)
    try:
        restored.start()
        with sqlite3.connect(target / "data" / "telemetry.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # Every row committed before the snapshot began is in the restored instance.
        assert committed_before <= set(stored_seqs(restored, serial))
        # The device (same certificate, same CA) reconnects to the restored instance and is stored.
        before = count(restored, "SELECT count(*) FROM telemetry", name="telemetry.db")
        # The device's own key and certificate stay on the device (here: the original's devices/).
        again = sim_publish(restored, serial, 1, workdir / "acks2.log", instance.dir / "devices")
        out, _ = again.communicate(timeout=60)
        assert again.returncode == 0, out
        wait_for(lambda: count(restored, "SELECT count(*) FROM telemetry", name="telemetry.db") > before,
                 30, "telemetry stored by the restored instance")
    finally:
        restored.cleanup()


def repack(archive: Path, dest: Path, change) -> Path:
    """Extracts `archive`, lets `change(root)` alter it, and packs it again as `dest`."""
    tmp = Path(tempfile.mkdtemp(prefix="sp-repack-"))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp)
        change(tmp / "smartproduct-backup")
        with tarfile.open(dest, "w:gz") as tar:
            tar.add(tmp / "smartproduct-backup", arcname="smartproduct-backup")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def rewrite_manifest_checksum(root: Path, rel: str):
    manifest = json.loads((root / "manifest.json").read_text())
    for f in manifest["files"]:
        if f["path"] == rel:
            f["sha256"] = hashlib.sha256((root / rel).read_bytes()).hexdigest()
            f["size"] = (root / rel).stat().st_size
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_restore_refuses_damaged_altered_or_newer_archives(instance, workdir):
    archive = workdir / "good.tar.gz"
    out = ctl("backup", "--dir", instance.dir, "--out", archive)
    assert out.returncode == 0, out.stderr

    truncated = workdir / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])

    def alter_key(root):
        with open(root / "pki" / "root-ca.key", "ab") as f:
            f.write(b"\n")

    def add_file(root):
        (root / "pki" / "extra.key").write_text("not in the manifest")

    def newer_schema(root):
        conn = sqlite3.connect(root / "data" / "smartproduct.db")
        conn.execute("PRAGMA user_version = 9999")
        conn.commit()
        conn.close()
        for leftover in (root / "data").glob("smartproduct.db-*"):
            leftover.unlink()
        rewrite_manifest_checksum(root, "data/smartproduct.db")

    def drop_file(root):
        (root / "smartproduct.toml").unlink()

    cases = {
        truncated: "damaged",
        repack(archive, workdir / "altered.tar.gz", alter_key): "does not match its checksum",
        repack(archive, workdir / "extra.tar.gz", add_file): "does not list",
        repack(archive, workdir / "newer.tar.gz", newer_schema): "newer than this program",
        repack(archive, workdir / "missing.tar.gz", drop_file): "is missing",
    }
    for bad, reason in cases.items():
        target = workdir / f"restore-{bad.stem}"
        out = ctl("restore", bad, "--dir", target)
        assert out.returncode != 0, (bad, out.stdout)
        assert reason in out.stderr, (bad, out.stderr)
        assert not target.exists(), f"{bad.name}: a refused restore must leave nothing behind"
    assert not [p for p in workdir.iterdir() if p.name.startswith(".")], "staging left behind"

    # A non-empty target is refused; the good archive restores.
    busy = workdir / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    out = ctl("restore", archive, "--dir", busy)
    assert out.returncode != 0 and "not empty" in out.stderr
    out = ctl("restore", archive, "--dir", workdir / "ok")
    assert out.returncode == 0, out.stderr


def test_backup_refuses_an_archive_inside_the_instance(stopped_instance):
    out = ctl("backup", "--dir", stopped_instance.dir, "--out", stopped_instance.dir / "b.tar.gz")
    assert out.returncode != 0 and "outside the instance directory" in out.stderr


class SplitInstance(Instance):
    """The packaged layout in a temp dir: smartproduct.toml alone in <root>/etc (`init --dir`), the
    PKI, broker files, data and logs in <root>/var (`--data-dir`), absolute paths in the config."""

    def __init__(self):  # noqa: D107 - its own init
        self.root = Path(tempfile.mkdtemp(prefix="sp-split-"))
        self.root.chmod(0o755)  # the broker (user mosquitto when run as root) must reach it
        self.dir = self.root / "var"
        self.http_port = free_port()
        self.mqtt_port = free_port()
        self.proc = None
        self.jitr = False
        self.config = self.root / "etc" / "smartproduct.toml"
        out = ctl("init", "--dir", self.root / "etc", "--data-dir", self.dir, "--http-port",
                  self.http_port, "--mqtt-port", self.mqtt_port, "--hostname", "localhost",
                  "--jitr", "off")
        assert out.returncode == 0, out.stderr
        out = ctl("ca", "create", "--name", "test", "--config", self.config)
        assert out.returncode == 0, out.stderr
        self.log_path = self.dir / "log" / "daemon.log"
        self.ca = self.dir / "pki" / "root-ca.crt"

    def cleanup(self) -> None:
        super().cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


def test_backup_of_the_packaged_layout_restores_into_one_folder(workdir):
    """The Debian package's instance (/etc/smartproduct + /var/lib/smartproduct) is backed up while a
    device publishes and restored into one new folder whose config points into it."""
    split = SplitInstance()
    try:
        split.start()
        serial = "SN-SPLIT"
        out = ctl("device-cert", "issue", "--config", split.config, "--ca", "test", "--serial", serial,
                  "--out", workdir / "devices")
        assert out.returncode == 0, out.stderr
        sim = sim_publish(split, serial, 4, workdir / "acks.log", workdir / "devices")
        try:
            wait_for(lambda: count(split, "SELECT count(*) FROM telemetry", name="telemetry.db") > 100,
                     60, "ingest under way")
            committed_before = set(stored_seqs(split, serial))
            archive = workdir / "split.tar.gz"
            out = ctl("backup", "--config", split.config, "--out", archive)
            assert out.returncode == 0, out.stderr
            sim.communicate(timeout=120)
        finally:
            if sim.poll() is None:
                sim.kill()
                sim.wait()
        stop_with_broker(split)

        target = workdir / "restored"
        out = ctl("restore", archive, "--dir", target)
        assert out.returncode == 0, out.stderr
        for conf in (target / "smartproduct.toml", target / "broker" / "mosquitto.conf"):
            assert str(split.dir) not in conf.read_text(), conf
        assert f'"{target}/data"' in (target / "smartproduct.toml").read_text()
        restored = RestoredInstance(target, split)
        try:
            restored.start()
            assert committed_before <= set(stored_seqs(restored, serial))
            before = count(restored, "SELECT count(*) FROM telemetry", name="telemetry.db")
            again = sim_publish(restored, serial, 1, workdir / "acks2.log", workdir / "devices")
            out, _ = again.communicate(timeout=60)
            assert again.returncode == 0, out
            wait_for(lambda: count(restored, "SELECT count(*) FROM telemetry", name="telemetry.db")
                     > before, 30, "telemetry stored by the restored instance")
        finally:
            restored.cleanup()
    finally:
        split.cleanup()
