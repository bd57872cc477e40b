"""smartproduct-sim run against the real daemon with JITR on: the simulator registers its serials
through the API as a user (--register-as), connects each device with a certificate from the
instance's managed CA, gets activated by JITR and publishes the seed's telemetry; a certificate
rotation of one device is activated for the same registration."""

from __future__ import annotations

import json
import subprocess

import pytest

from devices import count, db, issue_cert, publish
from harness import BIN, Instance, wait_for
from test_accounts import Api, ctl, login

PASSWORD = "simulator password 1"
SERIALS = [f"SIM-{n:05d}" for n in range(1, 4)]


@pytest.fixture(scope="module")
def inst():
    i = Instance(jitr=True)
    try:
        catalog = i.dir / "catalog.csv"
        catalog.write_text("deviceId,modelNumber,details\n" +
                           "".join(f'{s},25HNB9,"{{""model"":""INFINITY 19""}}"\n' for s in SERIALS))
        out = ctl(i, "catalog", "import", "--config", str(i.config), str(catalog))
        assert out.returncode == 0, out.stdout + out.stderr
        out = ctl(i, "user", "add", "--config", str(i.config), "--email", "owner@example.com",
                  "--password-stdin", stdin=PASSWORD + "\n")
        assert out.returncode == 0, out.stderr
        i.start()
        yield i
    finally:
        i.cleanup()


def test_sim_registers_connects_through_jitr_and_publishes(inst):
    api = Api(inst)
    out = subprocess.run(
        [str(BIN / "smartproduct-sim"), "run", "--config", str(inst.config), "--devices",
         str(len(SERIALS)), "--prefix", "SIM-", "--ca", "test", "--interval-ms", "300",
         "--status-interval-ms", "600", "--duration-s", "6", "--print-every-s", "1",
         "--register-as", "owner@example.com", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr

    token = login(api, "owner@example.com", PASSWORD)[0]["accessToken"]
    status, _, things = api("GET", "/api/devices", token=token)
    assert status == 200
    assert sorted(t["thingName"] for t in things) == SERIALS
    assert {t["status"] for t in things} == {"complete"}
    for serial in SERIALS:
        # ~20 ticks in 6 s; the first may be refused before activation and is retried.
        n = count(inst, "SELECT count(*) FROM telemetry WHERE device_id = ?", serial,
                  name="telemetry.db")
        assert n >= 5, (serial, n, out.stdout)
        with db(inst, "telemetry.db") as conn:
            payload = json.loads(conn.execute(
                "SELECT payload FROM telemetry WHERE device_id = ? ORDER BY id DESC LIMIT 1",
                (serial,)).fetchone()[0])
        # The seed simulator's telemetry shape.
        assert {"deviceId", "actualTemperature", "targetTemperature", "timestamp", "sentAt",
                "createdAt"} <= payload.keys(), payload
        assert payload["deviceId"] == serial and payload["targetTemperature"] == 71.5


def test_certificate_rotation_is_activated_for_the_same_registration(inst):
    api = Api(inst)
    token = login(api, "owner@example.com", PASSWORD)[0]["accessToken"]
    serial = SERIALS[0]
    new_cert = issue_cert(inst, serial, out="rotated")
    r = publish(inst, serial, f"smartproduct/telemetry/{serial}", '{"rotated":true}', cert=new_cert)
    assert r.connack == 0 and r.pubacks == [0], r

    def two_active():
        status, _, body = api("GET", f"/api/devices/{serial}/certificates", token=token)
        assert status == 200
        items = body["Items"]
        return len(items) == 2 and all(c["status"] == "ACTIVE" for c in items)

    wait_for(two_active, 10, "both certificates ACTIVE")
    with db(inst) as conn:
        regs = {row[0] for row in conn.execute(
            "SELECT registration_id FROM device_certificates WHERE device_id = ?", (serial,))}
    assert len(regs) == 1
