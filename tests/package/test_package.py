"""The Debian package, installed on this machine as an operator would (`apt-get install ./x.deb`,
as root): files, owners and modes; the instance postinst creates (/etc/smartproduct +
/var/lib/smartproduct); the daemon started the way the unit's ExecStart does, as the service user,
answering /readyz 200 over HTTPS with the console served from /usr/share; the first-admin command
postinst prints works; a reinstall keeps the keys; remove keeps data, purge deletes it.

Needs root and a built package: `./dev.sh package` (or SP_DEB=path). Skips with a message
otherwise, and when a smartproduct package is already installed (it is not ours to replace)."""

import glob
import os
import pwd
import re
import shlex
import signal
import socket
import ssl
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONF = Path("/etc/smartproduct/smartproduct.toml")
DATA = Path("/var/lib/smartproduct")
UNIT = Path("/lib/systemd/system/smartproductd.service")
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]


def find_deb() -> Path | None:
    if os.environ.get("SP_DEB"):
        return Path(os.environ["SP_DEB"])
    build = Path(os.environ.get("SP_BIN_DIR", ROOT / "build" / "bin")).parent
    debs = sorted(glob.glob(str(build / "package" / "smartproduct_*.deb")), key=os.path.getmtime)
    return Path(debs[-1]) if debs else None


def installed() -> bool:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "smartproduct"],
                       capture_output=True, text=True)
    return "installed" in r.stdout or "config-files" in r.stdout


def sh(*cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def owner_mode(p: Path) -> tuple[str, str, int]:
    st = p.lstat()
    import grp
    return (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            stat.S_IMODE(st.st_mode))


def set_port(text: str, section: str, port: int) -> str:
    # `port = N` inside [section] only.
    out, current = [], None
    for line in text.splitlines(keepends=True):
        m = re.match(r"^\[([a-z._]+)\]", line)
        if m:
            current = m.group(1)
        if current == section and re.match(r"^port\s*=", line):
            line = re.sub(r"^port\s*=\s*\d+", f"port = {port}", line)
        out.append(line)
    return "".join(out)


def https_status(port: int, path: str) -> int:
    ctx = ssl.create_default_context(cafile=str(DATA / "pki" / "root-ca.crt"))
    try:
        with urllib.request.urlopen(f"https://localhost:{port}{path}", context=ctx, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="installs a Debian package: needs root"),
]


@pytest.fixture(scope="module")
def deb():
    deb = find_deb()
    if deb is None or not deb.is_file():
        pytest.skip("no package built: run ./dev.sh package (or set SP_DEB)")
    if installed():
        pytest.skip("a smartproduct package is already installed on this machine; not replacing it")
    yield deb
    if installed():  # whatever failed, leave the machine as it was
        subprocess.run(APT + ["purge", "smartproduct"], capture_output=True)


def test_install_run_remove_purge(deb):
    t0 = time.monotonic()
    r = sh(*APT, "install", "--no-install-recommends", str(deb.resolve()))
    install_s = time.monotonic() - t0
    print(f"package {deb.name}: {deb.stat().st_size / 1e6:.1f} MB, install {install_s:.1f} s")

    # postinst told the operator how to get in.
    assert "first administrator" in r.stdout, r.stdout
    assert "runuser -u smartproduct -- smartproductctl user add" in r.stdout

    # Files, owners, modes.
    for p, mode in [("/usr/bin/smartproductd", 0o755), ("/usr/bin/smartproductctl", 0o755),
                    ("/usr/bin/smartproduct-sim", 0o755),
                    ("/usr/lib/smartproduct/mosquitto_smartproduct.so", 0o644),
                    ("/usr/share/smartproduct/web/index.html", 0o644), (str(UNIT), 0o644),
                    ("/usr/share/bash-completion/completions/smartproductctl", 0o644),
                    ("/usr/share/doc/smartproduct/copyright", 0o644),
                    ("/usr/share/smartproduct/smartproduct.toml", 0o644)]:
        assert owner_mode(Path(p)) == ("root", "root", mode), p
    if subprocess.run(["which", "help2man"], capture_output=True).returncode == 0:
        for prog in ("smartproductd", "smartproductctl", "smartproduct-sim"):
            assert Path(f"/usr/share/man/man1/{prog}.1.gz").is_file(), prog
    user = pwd.getpwnam("smartproduct")
    assert user.pw_uid < 1000 and user.pw_dir == str(DATA)
    assert owner_mode(CONF) == ("root", "smartproduct", 0o640)
    assert sorted(os.listdir(CONF.parent)) == ["smartproduct.toml"]
    assert owner_mode(DATA) == ("smartproduct", "smartproduct", 0o750)
    for key in ("pki/root-ca.key", "pki/https.key", "pki/svc-backend.key", "broker/server.key"):
        assert owner_mode(DATA / key) == ("smartproduct", "smartproduct", 0o600), key
    toml = CONF.read_text()
    assert f'data_dir = "{DATA}/data"' in toml
    assert "user mosquitto" not in (DATA / "broker/mosquitto.conf").read_text()
    root_key = (DATA / "pki/root-ca.key").read_bytes()
    assert sh("systemd-analyze", "verify", str(UNIT)).returncode == 0

    # Free ports (the defaults may be taken by a development instance on this machine): what an
    # operator edits in /etc/smartproduct/smartproduct.toml and the generated broker config.
    http_port, mqtt_port = free_port(), free_port()
    toml = set_port(set_port(toml, "http", http_port), "broker", mqtt_port)
    CONF.write_text(toml)
    conf = DATA / "broker/mosquitto.conf"
    conf.write_text(re.sub(r"(?m)^listener \d+", f"listener {mqtt_port}", conf.read_text()))

    # Start it the way the unit does: ExecStart as User=/Group=, UMask, from /.
    exec_start = next(l.split("=", 1)[1] for l in UNIT.read_text().splitlines()
                      if l.startswith("ExecStart="))
    daemon = subprocess.Popen(
        ["setpriv", "--reuid=smartproduct", "--regid=smartproduct", "--init-groups", "--"]
        + shlex.split(exec_start), cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.umask(0o027), start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while https_status(http_port, "/readyz") != 200:
            assert daemon.poll() is None, daemon.stdout.read().decode(errors="replace")
            assert time.monotonic() < deadline, "no /readyz 200 within 90 s"
            time.sleep(0.3)
        ready_s = time.monotonic() - t0 - install_s
        print(f"/readyz 200 {ready_s:.1f} s after the start")
        assert https_status(http_port, "/") == 200  # the console from /usr/share/smartproduct/web
        # The first-admin command postinst printed works as printed.
        sh("sh", "-c", "echo 'a long passphrase here' | runuser -u smartproduct -- "
           "smartproductctl user add --email admin@example.com --admin --password-stdin")
        listed = sh("runuser", "-u", "smartproduct", "--", "smartproductctl", "user", "list")
        assert "admin@example.com" in listed.stdout
        # Everything the service wrote belongs to the service user.
        for p in DATA.rglob("*"):
            assert p.lstat().st_uid == user.pw_uid, p
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
    assert daemon.returncode == 0

    # Remove keeps configuration, keys and data; a reinstall (as an upgrade would) keeps the keys.
    sh(*APT, "remove", "smartproduct")
    assert not Path("/usr/bin/smartproductd").exists()
    assert CONF.is_file() and (DATA / "pki/root-ca.key").read_bytes() == root_key
    r = sh(*APT, "install", "--no-install-recommends", str(deb.resolve()))
    assert "first administrator" not in r.stdout
    assert (DATA / "pki/root-ca.key").read_bytes() == root_key
    assert f"port = {http_port}" in CONF.read_text()

    # Purge deletes the instance; the system user stays (Debian's advice for system users).
    sh(*APT, "purge", "smartproduct")
    assert not installed()
    assert not DATA.exists() and not CONF.parent.exists()
    left = [p for p in ("/usr/bin/smartproductd", "/usr/lib/smartproduct", str(UNIT),
                        "/usr/share/smartproduct") if Path(p).exists()]
    assert left == []
