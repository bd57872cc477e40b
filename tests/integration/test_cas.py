"""Registered device CAs against the real daemon and broker (an instance with JITR off, so a
certificate from an active CA may publish at once): the registration code, registration with proof
of possession (CAs and verification certificates made with the openssl CLI) and its errors, list /
describe / activate / deactivate / deregister over /api/admin/cas, a device of the registered CA
connecting over mutual TLS, admin-only access, and the CLI (`ca create`, `device-cert issue --ca`,
`--csr`). Every response is checked against /api/openapi.json."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from devices import broker_tls_refusals, count, issue_cert, publish
from harness import Instance, wait_for, running_instance
from test_accounts import Api, ctl, login, verified_user

ADMIN_EMAIL = "ca-admin@example.com"
ADMIN_PASSWORD = "ca admin password 1"
BASE = "/api/admin/cas"


# --- openssl helpers -------------------------------------------------------------------------
def openssl(*args, cwd: Path) -> None:
    out = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr


def make_ca(d: Path, name: str, ca: bool = True) -> tuple[Path, Path]:
    """A self-signed certificate (CA:TRUE with a subject key identifier, unless ca=False)."""
    d.mkdir(parents=True, exist_ok=True)
    extra = [] if ca else ["-addext", "basicConstraints=critical,CA:FALSE"]
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}", "-days", "30",
            *extra, cwd=d)
    return d / f"{name}.crt", d / f"{name}.key"


def sign(d: Path, cn: str, ca: tuple[Path, Path], out: str) -> tuple[Path, Path]:
    """A client certificate with CN `cn` for a new key, signed by `ca` (the openssl CLI as a
    manufacturer would use it). The authority key identifier names the CA: the broker plugin
    matches a device's CA by it (OpenSSL 3.0's `x509 -req` adds no extensions by itself)."""
    (d / "client.ext").write_text("basicConstraints=critical,CA:FALSE\n"
                                  "keyUsage=critical,digitalSignature\n"
                                  "extendedKeyUsage=clientAuth\n"
                                  "subjectKeyIdentifier=hash\n"
                                  "authorityKeyIdentifier=keyid:always\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{out}.key", "-out", f"{out}.csr", "-subj", f"/CN={cn}", cwd=d)
    openssl("x509", "-req", "-in", f"{out}.csr", "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
            "-extfile", "client.ext", "-out", f"{out}.crt", "-days", "2", cwd=d)
    return d / f"{out}.crt", d / f"{out}.key"


def ski(cert: Path) -> str:
    text = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext",
                           "subjectKeyIdentifier"], capture_output=True, text=True).stdout
    return re.search(r"([0-9A-F]{2}(:[0-9A-F]{2})+)", text).group(1).replace(":", "")


# --- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inst():
    yield from running_instance(jitr=False)


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def admin(api):
    out = ctl(api.inst, "user", "add", "--config", str(api.inst.config), "--email", ADMIN_EMAIL,
              "--admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    return login(api, ADMIN_EMAIL, ADMIN_PASSWORD)[0]["accessToken"]


@pytest.fixture(scope="module")
def user(api):
    verified_user(api, "ca-user@example.com")
    return login(api, "ca-user@example.com")[0]["accessToken"]


@pytest.fixture(scope="module")
def code(api, admin):
    status, _, body = api("GET", f"{BASE}/registration-code", token=admin)
    assert status == 200, body
    return body["registrationCode"]


@pytest.fixture(scope="module")
def pki_dir(inst):
    d = inst.dir / "manufacturer"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def acme(pki_dir, code):
    """The manufacturer's CA, its verification certificate and a device certificate chain."""
    ca = make_ca(pki_dir, "Acme-Device-CA")
    verification = sign(pki_dir, code, ca, "verify")
    crt, key = sign(pki_dir, "SN-ACME-1", ca, "SN-ACME-1")
    chain = pki_dir / "SN-ACME-1.chain.crt"
    chain.write_text(crt.read_text() + ca[0].read_text())
    return {"ca": ca, "verification": verification[0], "device": (chain, key), "id": ski(ca[0])}


def body_for(ca_crt: Path, verification: Path, **extra) -> dict:
    return {"caCertificate": ca_crt.read_text(), "verificationCertificate": verification.read_text(),
            **extra}


def disabled_cas(inst: Instance) -> list[str]:
    try:
        return json.loads((inst.dir / "broker" / "state.json").read_text()).get("disabledCas", [])
    except (OSError, ValueError):
        return []


def telemetry_rows(inst, device):
    return count(inst, "SELECT count(*) FROM telemetry WHERE device_id = ?", device,
                 name="telemetry.db")


def expect_refused(inst: Instance, ca_id: str, serial: str, cert) -> None:
    """The device of a disabled CA is refused: the CA is not in the broker's capath, so the TLS
    handshake fails (a managed broker is restarted when a CA it may have cached leaves the capath);
    the plugin, told by the daemon (its state file lists the CA), would refuse it as well."""
    wait_for(lambda: ca_id in disabled_cas(inst), 5, f"CA {ca_id} disabled in the plugin state")

    def refused_by_tls():
        before = broker_tls_refusals(inst)
        # A short timeout per try: a connection made while the managed broker restarts can wait
        # for a handshake that never comes, and must not use up the whole wait.
        r = publish(inst, serial, f"smartproduct/telemetry/{serial}", '{"timestamp": 2}', cert=cert,
                    timeout=8)
        assert r.connack is None or r.refused, r  # never accepted
        return r.tls_failed and broker_tls_refusals(inst) > before
    wait_for(refused_by_tls, 30, "the device refused by the broker's TLS", interval=0.5)


# --- tests -----------------------------------------------------------------------------------
def test_registration_code(api, admin, code, inst):
    assert re.fullmatch(r"[0-9a-f]{64}", code)
    status, _, again = api("GET", f"{BASE}/registration-code", token=admin)
    assert status == 200 and again["registrationCode"] == code
    out = ctl(inst, "ca", "registration-code", "--config", str(inst.config))
    assert out.returncode == 0 and out.stdout.strip() == code


def test_the_harness_ca_is_listed_as_managed(api, admin):
    status, _, body = api("GET", BASE, token=admin)
    assert status == 200
    test_ca = [c for c in body["Items"] if c["name"] == "test"]
    assert len(test_ca) == 1, body
    assert test_ca[0]["managed"] is True and test_ca[0]["status"] == "ACTIVE"
    assert test_ca[0]["autoRegistration"] is True
    assert body["Count"] == len(body["Items"])


def test_registration_is_validated(api, admin, acme, pki_dir, code):
    ca_crt = acme["ca"][0]
    cases = []
    # Verification certificate with the wrong CN.
    wrong_cn = sign(pki_dir, "not-the-code", acme["ca"], "wrong-cn")[0]
    cases.append((body_for(ca_crt, wrong_cn), 422, "RegistrationCodeMismatch"))
    # Right CN, but signed by another CA: no proof of possession.
    other = make_ca(pki_dir, "Other-CA")
    foreign = sign(pki_dir, code, other, "foreign")[0]
    cases.append((body_for(ca_crt, foreign), 422, "VerificationSignatureInvalid"))
    # Not a CA.
    leaf = make_ca(pki_dir, "Leaf", ca=False)
    leaf_verification = sign(pki_dir, code, leaf, "leaf-verify")[0]
    cases.append((body_for(leaf[0], leaf_verification), 422, "InvalidCaCertificate"))
    # Garbage.
    cases.append(({"caCertificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                   "verificationCertificate": acme["verification"].read_text()}, 422,
                  "InvalidCaCertificate"))
    cases.append(({"caCertificate": "hello", "verificationCertificate": "x"}, 422,
                  "InvalidCaCertificate"))
    cases.append((body_for(ca_crt, acme["verification"], name="bad name"), 422, "InvalidCaName"))
    # Oversize: a field over the service's 32 KiB limit (bodies over the HTTP limit get 413 before
    # they are read: test_foundation.py).
    cases.append(({"caCertificate": "A" * 40000,
                   "verificationCertificate": acme["verification"].read_text()}, 413,
                  "CertificateTooLarge"))
    # Malformed requests.
    cases.append(({"verificationCertificate": acme["verification"].read_text()}, 400, None))
    cases.append(({"caCertificate": 5, "verificationCertificate": "x"}, 400, None))
    cases.append((body_for(ca_crt, acme["verification"], setAsActive="yes"), 400, None))
    for body, want, name in cases:
        status, _, err = api("POST", BASE, body, token=admin)
        assert status == want, (body.get("name"), err)
        if name:
            assert err["error"] == name, err
    status, _, raw = api("POST", BASE, b"not json", token=admin,
                         headers={"Content-Type": "application/json"})
    assert status == 400
    # Nothing was registered.
    status, _, listing = api("GET", BASE + "?includeDeregistered=true", token=admin)
    assert [c["name"] for c in listing["Items"]] == ["test"]


def test_register_activate_and_a_device_publishes(api, admin, acme, inst):
    status, _, ca = api("POST", BASE, body_for(*[acme["ca"][0], acme["verification"]]), token=admin)
    assert status == 201, ca
    assert ca["caId"] == acme["id"]
    assert ca["name"] == "Acme-Device-CA"  # from the CN
    assert ca["status"] == "INACTIVE" and ca["autoRegistration"] is False and ca["managed"] is False
    assert ca["certificatePem"] == acme["ca"][0].read_text()
    assert ca["deviceCount"] == 0
    assert "CN=Acme-Device-CA" in ca["subject"]
    assert re.fullmatch(r"[0-9A-F]{64}", ca["fingerprint"])
    # INACTIVE: not in the broker's capath (TLS refuses its devices).
    capath = inst.dir / "broker" / "device-cas"
    assert not (capath / f"{acme['id']}.pem").exists()

    status, _, err = api("POST", BASE, body_for(acme["ca"][0], acme["verification"]), token=admin)
    assert status == 409 and err["error"] == "CaAlreadyRegistered"

    # Same name, another CA.
    twin = make_ca(Path(acme["ca"][0]).parent, "Twin-CA")
    twin_verification = sign(Path(acme["ca"][0]).parent, api("GET", f"{BASE}/registration-code",
                                                             token=admin)[2]["registrationCode"],
                             twin, "twin-verify")[0]
    status, _, err = api("POST", BASE, body_for(twin[0], twin_verification, name="Acme-Device-CA"),
                         token=admin)
    assert status == 409 and err["error"] == "CaNameTaken"

    # Describe by id (any case, with colons) and by name; list.
    colons = ":".join(acme["id"][i:i + 2] for i in range(0, len(acme["id"]), 2)).lower()
    for key in (acme["id"], "Acme-Device-CA", colons):
        status, _, one = api("GET", f"{BASE}/{key}", token=admin)
        assert status == 200 and one["caId"] == acme["id"], (key, one)
    status, _, err = api("GET", f"{BASE}/no-such-ca", token=admin)
    assert status == 404 and err["error"] == "CaNotFound"
    status, _, listing = api("GET", BASE, token=admin)
    assert {c["name"] for c in listing["Items"]} == {"test", "Acme-Device-CA"}
    status, _, err = api("GET", BASE + "?includeDeregistered=maybe", token=admin)
    assert status == 422

    # While INACTIVE the CA's devices are refused.
    expect_refused(inst, acme["id"], "SN-ACME-1", acme["device"])

    status, _, ca = api("PATCH", f"{BASE}/{acme['id']}", {"status": "ACTIVE",
                                                          "autoRegistration": True}, token=admin)
    assert status == 200, ca
    assert ca["status"] == "ACTIVE" and ca["autoRegistration"] is True
    assert "certificatePem" not in ca
    # ACTIVE: installed in the broker's capath (hashed).
    assert (capath / f"{acme['id']}.pem").read_text() == acme["ca"][0].read_text()
    assert any(p.is_symlink() for p in capath.iterdir())
    status, _, err = api("PATCH", f"{BASE}/{acme['id']}", {"status": "DEREGISTERED"}, token=admin)
    assert status == 422 and err["error"] == "InvalidCaStatus"
    status, _, err = api("PATCH", f"{BASE}/{acme['id']}", {"autoRegistration": "on"}, token=admin)
    assert status == 400

    # A device certificate from that CA, presented with its chain: accepted and stored.
    wait_for(lambda: acme["id"] not in disabled_cas(inst), 5, "the CA enabled at the plugin")
    r = publish(inst, "SN-ACME-1", "smartproduct/telemetry/SN-ACME-1",
                '{"timestamp": 1, "actualTemperature": 70}', cert=acme["device"])
    assert r.pubacks == [0], r
    wait_for(lambda: telemetry_rows(inst, "SN-ACME-1") == 1, 10, "telemetry stored")


def test_deactivate_refuses_the_devices(api, admin, acme, inst):
    status, _, ca = api("PATCH", f"{BASE}/Acme-Device-CA", {"status": "INACTIVE"}, token=admin)
    assert status == 200 and ca["status"] == "INACTIVE"
    expect_refused(inst, acme["id"], "SN-ACME-1", acme["device"])
    assert telemetry_rows(inst, "SN-ACME-1") == 1
    status, _, ca = api("PATCH", f"{BASE}/Acme-Device-CA", {"status": "ACTIVE"}, token=admin)
    assert status == 200 and ca["status"] == "ACTIVE"


def test_deregister_refuses_at_once_and_allows_registering_again(api, admin, acme, inst):
    status, _, ca = api("DELETE", f"{BASE}/{acme['id']}", token=admin)
    assert status == 200, ca
    assert ca["status"] == "DEREGISTERED"
    assert not (inst.dir / "broker" / "device-cas" / f"{acme['id']}.pem").exists()
    status, _, listing = api("GET", BASE, token=admin)
    assert "Acme-Device-CA" not in {c["name"] for c in listing["Items"]}
    status, _, listing = api("GET", BASE + "?includeDeregistered=true", token=admin)
    assert {c["status"] for c in listing["Items"] if c["caId"] == acme["id"]} == {"DEREGISTERED"}
    status, _, one = api("GET", f"{BASE}/{acme['id']}", token=admin)  # history, by id
    assert status == 200 and one["status"] == "DEREGISTERED"
    status, _, err = api("PATCH", f"{BASE}/{acme['id']}", {"status": "ACTIVE"}, token=admin)
    assert status == 409 and err["error"] == "CaDeregistered"
    status, _, err = api("DELETE", f"{BASE}/{acme['id']}", token=admin)
    assert status == 409
    status, _, err = api("DELETE", f"{BASE}/Acme-Device-CA", token=admin)  # names are freed
    assert status == 404

    # Out of the capath and the managed broker restarted: TLS refuses the device.
    expect_refused(inst, acme["id"], "SN-ACME-1", acme["device"])

    # Registering it again works (INACTIVE again, so not in the capath yet).
    status, _, ca = api("POST", BASE, body_for(acme["ca"][0], acme["verification"],
                                               name="acme-again"), token=admin)
    assert status == 201, ca
    assert ca["status"] == "INACTIVE" and ca["name"] == "acme-again"
    assert not (inst.dir / "broker" / "device-cas" / f"{acme['id']}.pem").exists()


def test_admin_only(api, user):
    routes = [("GET", f"{BASE}/registration-code", None), ("GET", BASE, None),
              ("POST", BASE, {"caCertificate": "x", "verificationCertificate": "y"}),
              ("GET", f"{BASE}/test", None), ("PATCH", f"{BASE}/test", {"status": "INACTIVE"}),
              ("DELETE", f"{BASE}/test", None)]
    for method, path, body in routes:
        status, _, err = api(method, path, body, token=user)
        assert status == 403, (method, path, err)
        status, _, err = api(method, path, body)
        assert status == 401, (method, path, err)


def test_cli_create_issue_and_csr_chains_verify(api, admin, inst, tmp_path):
    out = ctl(inst, "ca", "create", "--name", "cli-made", "--days", "30", "--config",
              str(inst.config))
    assert out.returncode == 0, out.stderr
    ca_crt = inst.dir / "pki" / "cas" / "cli-made.crt"
    assert (inst.dir / "pki" / "cas" / "cli-made.key").stat().st_mode & 0o777 == 0o600
    status, _, ca = api("GET", f"{BASE}/cli-made", token=admin)
    assert status == 200 and ca["managed"] and ca["status"] == "ACTIVE" and ca["autoRegistration"]

    crt, key = issue_cert(inst, "SN-CLI-1", ca="cli-made")
    chain = crt.read_text()
    assert chain.count("BEGIN CERTIFICATE") == 2 and chain.endswith(ca_crt.read_text())
    v = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-CAfile", str(ca_crt),
                        str(crt)], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    assert key.stat().st_mode & 0o777 == 0o600

    # The device's own key and CSR: only the certificate comes back.
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "own.key", "-out", "own.csr", "-subj", "/CN=SN-CLI-2", cwd=tmp_path)
    out = ctl(inst, "device-cert", "issue", "--config", str(inst.config), "--ca", "cli-made",
              "--serial", "SN-CLI-2", "--csr", str(tmp_path / "own.csr"), "--out",
              str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "out" / "SN-CLI-2.key").exists()
    signed = tmp_path / "out" / "SN-CLI-2.crt"
    v = subprocess.run(["openssl", "verify", "-CAfile", str(ca_crt), str(signed)],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    pub = lambda args: subprocess.run(args, capture_output=True, text=True).stdout  # noqa: E731
    assert pub(["openssl", "x509", "-in", str(signed), "-noout", "-pubkey"]) == \
        pub(["openssl", "pkey", "-in", str(tmp_path / "own.key"), "-pubout"])
    # A CSR whose CN is not the serial is refused.
    out = ctl(inst, "device-cert", "issue", "--config", str(inst.config), "--ca", "cli-made",
              "--serial", "SN-CLI-3", "--csr", str(tmp_path / "own.csr"), "--out",
              str(tmp_path / "out"))
    assert out.returncode != 0 and "common name" in out.stderr

    # Several managed CAs now: --ca is required.
    out = ctl(inst, "device-cert", "issue", "--config", str(inst.config), "--serial", "SN-CLI-4",
              "--out", str(tmp_path / "out"))
    assert out.returncode != 0 and "cli-made" in out.stderr and "test" in out.stderr

    # The CLI-made CA's device publishes (JITR off).
    r = publish(inst, "SN-CLI-1", "smartproduct/telemetry/SN-CLI-1", '{"timestamp": 3}',
                cert=(crt, key))
    assert r.pubacks == [0], r
