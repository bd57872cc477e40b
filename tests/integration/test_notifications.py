"""The notifications module end to end against real local servers started here: an SMTP sink
(aiosmtpd), an HTTP server standing in for the SMS gateway (checks the body template and the auth
header) and for webhook receivers (checks X-Smartproduct-Signature over timestamp.body with the
secret the API showed once). Alerts are produced by inserting rows into notification_outbox in the
daemon's SQLite file, as the alerts module will (the contract of migration 0010), because that
module is built in parallel; test messages go through POST /api/notifications/test.

Covers: channel settings and their validation, every channel with the seed's exact SMS text, the
rate limit and its digest, back-off to the dead state with an admin listing and retry, and outbox
durability across kill -9 with every channel down (each message delivered exactly once after)."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import signal
import sqlite3
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from harness import Instance, free_port, running_instance, wait_for
from test_accounts import Api
from test_jitr import Users

WINDOW_S = 3
SMS_KEY = "Bearer sms-gateway-key-123"
SEED_TEXT = ("** Smart Product Event Alert **\n"
             "You have a new error event.\n"
             "\n"
             "* Device: Living room\n"
             "* Time: 2026-12-03T03:00:00.000Z\n"
             "* Message: {message}\n"
             "* Value: 104.5")


# --- local servers -------------------------------------------------------------------------------

class SmtpSink:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages: list[email.message.Message] = []
        self.lock = threading.Lock()
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content)
        msg["X-Test-Rcpt"] = ",".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"

    def start(self):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def bodies(self, to: str) -> list[str]:
        with self.lock:
            return [m.get_payload(decode=True).decode().replace("\r\n", "\n").rstrip("\n")
                    for m in self.messages if m["X-Test-Rcpt"] == to]


class Receiver:
    """Webhook receivers at /hook/<name> (secret per name) and the SMS gateway at /sms."""

    def __init__(self, port: int | None = None, tls: tuple[str, str] | None = None):
        self.port = port or free_port()
        self.tls = tls  # (certificate chain, key): serve https
        self.secrets: dict[str, str] = {}
        self.failing: set[str] = set()  # names answered with 503
        self.hooks: list[dict] = []
        self.sms: list[dict] = []
        self.bad: list[str] = []
        self.lock = threading.Lock()
        self.server = None

    def url(self, name: str) -> str:
        if self.tls:
            return f"https://localhost:{self.port}/hook/{name}"
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def start(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = outer.handle(self.path, dict(self.headers), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.allow_reuse_address = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def handle(self, path: str, headers: dict, body: bytes) -> int:
        headers = {k.lower(): v for k, v in headers.items()}
        if path == "/sms":
            if headers.get("authorization") != SMS_KEY or \
                    headers.get("content-type") != "application/x-www-form-urlencoded":
                with self.lock:
                    self.bad.append(f"sms headers {headers}")
                return 401
            form = urllib.parse.parse_qs(body.decode(), strict_parsing=True)
            with self.lock:
                self.sms.append({"to": form["To"][0], "text": form["Body"][0]})
            return 200
        name = path.rsplit("/", 1)[-1]
        if name in self.failing:
            return 503
        secret = self.secrets.get(name)
        ts = headers.get("x-smartproduct-timestamp", "")
        sig = headers.get("x-smartproduct-signature", "")
        want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest() if secret else None
        # The receiver's side of the replay window: 5 minutes either way.
        if not want or not hmac.compare_digest(sig, want) or abs(time.time() - int(ts)) > 300:
            with self.lock:
                self.bad.append(f"{name}: bad signature")
            return 401
        doc = json.loads(body)
        with self.lock:
            self.hooks.append({"name": name, "delivery": headers.get("x-smartproduct-delivery"),
                               "doc": doc})
        return 200

    def hooks_of(self, name: str) -> list[dict]:
        with self.lock:
            return [h for h in self.hooks if h["name"] == name]

    def sms_to(self, phone: str) -> list[str]:
        with self.lock:
            return [s["text"] for s in self.sms if s["to"] == phone]


def settings_for(smtp: SmtpSink, receiver: Receiver, **extra) -> dict:
    notifications = {
        "window_s": WINDOW_S, "max_attempts": 4, "backoff_base_ms": 200, "backoff_max_ms": 800,
        "poll_ms": 100, "send_timeout_s": 5, "allow_http_webhooks": True,
        "sms_url": f"http://127.0.0.1:{receiver.port}/sms", "sms_auth_header": f"Authorization: {SMS_KEY}",
        "sms_format": "form", "sms_body_template": "To={{to}}&Body={{text}}"}
    notifications.update(extra)
    return {"identity": {"smtp_url": f"smtp://127.0.0.1:{smtp.port}", "smtp_require_tls": False,
                         "smtp_from": "smartproduct <alerts@example.com>"},
            "notifications": notifications}


def insert_alert(inst: Instance, user_id: str, message: str, group: str | None = None) -> int:
    """An alert row as the alerts module writes it (migration 0010's contract)."""
    payload = {"alertId": "AL-" + message, "eventId": "EV-" + message, "deviceId": "SN-N001",
               "deviceName": "Living room", "eventType": "error", "message": message,
               "value": 104.5, "createdAt": "2026-12-03T03:00:00.000Z", "occurrences": 1}
    conn = sqlite3.connect(inst.dir / "data" / "smartproduct.db", timeout=30)
    try:
        with conn:
            cur = conn.execute(
                "INSERT INTO notification_outbox (user_id, device_id, kind, group_key, payload, "
                "created_at) VALUES (?, ?, 'alert', ?, ?, ?)",
                (user_id, "SN-N001", group or f"SN-N001|error|{message}", json.dumps(payload),
                 int(time.time() * 1000)))
            return cur.lastrowid
    finally:
        conn.close()


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def servers():
    smtp = SmtpSink().start()
    receiver = Receiver().start()
    yield smtp, receiver
    smtp.stop()
    receiver.stop()


@pytest.fixture(scope="module")
def inst(servers):
    smtp, receiver = servers
    yield from running_instance(settings=settings_for(smtp, receiver))


@pytest.fixture(scope="module")
def api(inst):
    return Api(inst)


@pytest.fixture(scope="module")
def users(api):
    u = Users(api)
    u.add("notify-admin@example.com", admin=True)
    for name in ("alice", "bob", "carol", "dave"):
        u.add(f"{name}@example.com")
    return u


def token(users, name):
    return users.tokens[f"{name}@example.com"]


# --- tests ---------------------------------------------------------------------------------------

def test_channel_settings_and_validation(api, users):
    t = token(users, "alice")
    status, _, body = api("GET", "/api/notifications/channels", token=t)
    assert status == 200
    assert body == {"email": "alice@example.com", "emailEnabled": True, "emailAvailable": True,
                    "phone": "", "smsEnabled": False, "smsAvailable": True, "webhookUrl": None,
                    "webhookSecretSet": False}
    assert api("GET", "/api/notifications/channels")[0] == 401
    cases = [
        ({"phone": "555-1234"}, 422, "InvalidPhone"),
        ({"smsEnabled": True}, 422, "InvalidPhone"),  # no phone number yet
        ({"webhookUrl": "ftp://example.com/x"}, 422, "InvalidWebhookUrl"),
        ({"webhookUrl": "https://user:pw@example.com/"}, 422, "InvalidWebhookUrl"),
        ({"rotateWebhookSecret": True}, 422, "InvalidWebhookUrl"),  # no webhook to rotate
        ({"emailEnabled": "yes"}, 400, "InvalidField"),
        ({"webhookUrl": 5}, 400, "InvalidField"),
    ]
    for body_in, want, name in cases:
        status, _, body = api("PUT", "/api/notifications/channels", body_in, token=t)
        assert (status, body["error"]) == (want, name), body_in
    status, _, body = api("PUT", "/api/notifications/channels", b"{not json", token=t,
                          headers={"Content-Type": "application/json"})
    assert (status, body["error"]) == (400, "InvalidJson")
    status, _, body = api("PUT", "/api/notifications/channels", b"{}", token=t,
                          headers={"Content-Type": "text/plain"})
    assert status == 415
    # Nothing above changed anything.
    assert api("GET", "/api/notifications/channels", token=t)[2]["webhookSecretSet"] is False

    status, _, body = api("PUT", "/api/notifications/channels",
                          {"phone": "+15551230001", "smsEnabled": True,
                           "webhookUrl": "https://hooks.example.com/a"}, token=t)
    assert status == 200, body
    assert body["webhookSecret"].startswith("whsec_") and body["webhookSecretSet"] is True
    assert body["phone"] == "+15551230001" and body["smsEnabled"] is True
    status, _, again = api("GET", "/api/notifications/channels", token=t)
    assert "webhookSecret" not in again and again["webhookUrl"] == "https://hooks.example.com/a"
    # The phone number is the account's: the profile shows it too.
    assert api("GET", "/api/auth/me", token=t)[2].get("phone") == "+15551230001"
    status, _, rotated = api("PUT", "/api/notifications/channels", {"rotateWebhookSecret": True},
                             token=t)
    assert status == 200 and rotated["webhookSecret"] != body["webhookSecret"]
    status, _, removed = api("PUT", "/api/notifications/channels",
                             {"webhookUrl": None, "smsEnabled": False}, token=t)
    assert status == 200 and removed["webhookUrl"] is None and removed["webhookSecretSet"] is False


def test_test_notification_reaches_every_channel(api, users, servers):
    smtp, receiver = servers
    t = token(users, "bob")
    status, _, body = api("PUT", "/api/notifications/channels",
                          {"phone": "+15551230002", "smsEnabled": True,
                           "webhookUrl": receiver.url("bob")}, token=t)
    assert status == 200, body
    receiver.secrets["bob"] = body["webhookSecret"]
    status, _, queued = api("POST", "/api/notifications/test", token=t)
    assert status == 202 and queued["queued"] is True
    status, _, body = api("POST", "/api/notifications/test", token=t)
    assert (status, body["error"]) == (429, "TooManyAttempts")
    assert api("POST", "/api/notifications/test")[0] == 401
    wait_for(lambda: smtp.bodies("bob@example.com") and receiver.sms_to("+15551230002")
             and receiver.hooks_of("bob"), 20, "the test message on every channel")
    mail = smtp.bodies("bob@example.com")
    assert len(mail) == 1 and mail[0].startswith("** Smart Product Test Notification **\n")
    assert receiver.sms_to("+15551230002") == [mail[0]]
    hook = receiver.hooks_of("bob")
    assert len(hook) == 1 and hook[0]["doc"]["kind"] == "test"
    assert hook[0]["doc"]["outboxId"] == queued["outboxId"]
    assert hook[0]["delivery"] == hook[0]["doc"]["deliveryId"]
    assert not receiver.bad


def test_alert_uses_the_seed_text_and_repeats_fold_into_one_digest(inst, api, users, servers):
    smtp, receiver = servers
    t = token(users, "carol")
    user_id = users.ids["carol@example.com"]
    status, body = api("PUT", "/api/notifications/channels",
                       {"phone": "+15551230003", "smsEnabled": True,
                        "webhookUrl": receiver.url("carol")}, token=t)[::2]
    assert status == 200
    receiver.secrets["carol"] = body["webhookSecret"]
    group = "SN-N001|error|Temperature out of band"
    for _ in range(5):
        insert_alert(inst, user_id, "Temperature out of band", group)
    wait_for(lambda: smtp.bodies("carol@example.com"), 20, "the first alert email")
    first = SEED_TEXT.format(message="Temperature out of band")
    assert smtp.bodies("carol@example.com") == [first]
    wait_for(lambda: receiver.sms_to("+15551230003") and receiver.hooks_of("carol"), 10, "SMS+hook")
    assert receiver.sms_to("+15551230003") == [first]
    assert receiver.hooks_of("carol")[0]["doc"]["payload"]["deviceName"] == "Living room"
    # The four repeats were held back; at the window's end they go out as one digest.
    wait_for(lambda: len(smtp.bodies("carol@example.com")) >= 2, WINDOW_S + 10, "the digest")
    time.sleep(WINDOW_S + 1)  # no second digest
    mails = smtp.bodies("carol@example.com")
    assert len(mails) == 2, mails
    assert mails[1].startswith("** Smart Product Event Alert **\n4 more alerts like this in the last "
                               "1 minute.\n\n* Device: Living room\n")
    assert len(receiver.sms_to("+15551230003")) == 2
    hooks = receiver.hooks_of("carol")
    assert [h["doc"]["kind"] for h in hooks] == ["alert", "digest"] and hooks[1]["doc"]["count"] == 4
    # Another device/type/message is its own group: not held back by this one.
    insert_alert(inst, user_id, "Fan stalled")
    wait_for(lambda: len(smtp.bodies("carol@example.com")) == 3, 20, "the other group's alert")
    assert smtp.bodies("carol@example.com")[2] == SEED_TEXT.format(message="Fan stalled")


def test_failing_channel_backs_off_dies_and_an_admin_retries(inst, api, users, servers):
    _, receiver = servers
    t = token(users, "dave")
    admin = token(users, "notify-admin")
    status, body = api("PUT", "/api/notifications/channels",
                       {"emailEnabled": False, "webhookUrl": receiver.url("dave")}, token=t)[::2]
    assert status == 200
    receiver.secrets["dave"] = body["webhookSecret"]
    receiver.failing.add("dave")
    insert_alert(inst, users.ids["dave@example.com"], "Compressor fault")

    def dead():
        s, _, page = api("GET", "/api/admin/notifications?state=dead&limit=100", token=admin)
        assert s == 200
        return [d for d in page["Items"] if d["userId"] == users.ids["dave@example.com"]]
    wait_for(dead, 20, "the delivery to die after 4 attempts")
    d = dead()[0]
    assert d["attempts"] == 4 and d["channel"] == "webhook" and d["state"] == "dead"
    assert "503" in d["lastError"] and d["sentAt"] is None and d["nextAttemptAt"] is None
    assert receiver.hooks_of("dave") == []

    assert api("GET", "/api/admin/notifications", token=t)[0] == 403
    assert api("GET", "/api/admin/notifications")[0] == 401
    status, _, body = api("GET", "/api/admin/notifications?state=gone", token=admin)
    assert (status, body["error"]) == (422, "InvalidQuery")
    status, _, body = api("GET", "/api/admin/notifications?lastevalkey=xyz", token=admin)
    assert (status, body["error"]) == (400, "InvalidCursor")
    # Paging: one at a time, newest first, no repeats.
    seen, cursor = [], None
    while True:
        path = "/api/admin/notifications?limit=1" + (f"&lastevalkey={cursor}" if cursor else "")
        status, _, page = api("GET", path, token=admin)
        assert status == 200 and page["Count"] == len(page["Items"]) <= 1
        seen += [x["id"] for x in page["Items"]]
        cursor = page.get("LastEvaluatedKey")
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) and d["id"] in seen

    assert api("POST", "/api/admin/notifications/99999/retry", token=admin)[0] == 404
    assert api("POST", "/api/admin/notifications/abc/retry", token=admin)[0] == 404
    assert api("POST", f"/api/admin/notifications/{d['id']}/retry", token=t)[0] == 403
    receiver.failing.discard("dave")
    status, _, revived = api("POST", f"/api/admin/notifications/{d['id']}/retry", token=admin)
    assert status == 200 and revived["state"] == "pending" and revived["attempts"] == 0
    wait_for(lambda: receiver.hooks_of("dave"), 20, "the retried delivery")
    assert len(receiver.hooks_of("dave")) == 1
    assert receiver.hooks_of("dave")[0]["delivery"] == d["deliveryId"]
    status, _, body = api("POST", f"/api/admin/notifications/{d['id']}/retry", token=admin)
    assert (status, body["error"]) == (409, "DeliveryNotDead")


def test_outbox_survives_kill_9_with_channels_down():
    """Every channel down, messages queued and already retried, kill -9, restart, channels up:
    each message arrives exactly once on each channel."""
    smtp = SmtpSink()
    receiver = Receiver()
    inst = Instance(settings=settings_for(smtp, receiver, max_attempts=50, backoff_base_ms=100,
                                          backoff_max_ms=500))
    try:
        inst.start()
        api = Api(inst)
        u = Users(api)
        t = u.add("erin@example.com")
        status, body = api("PUT", "/api/notifications/channels",
                           {"phone": "+15551230005", "smsEnabled": True,
                            "webhookUrl": receiver.url("erin")}, token=t)[::2]
        assert status == 200
        receiver.secrets["erin"] = body["webhookSecret"]
        user_id = u.ids["erin@example.com"]
        messages = [f"Fault {n}" for n in range(8)]
        for m in messages:
            insert_alert(inst, user_id, m)

        def attempted():
            conn = sqlite3.connect(f"file:{inst.dir / 'data' / 'smartproduct.db'}?mode=ro",
                                   uri=True, timeout=10)
            try:
                return conn.execute("SELECT count(*) FROM notification_deliveries WHERE "
                                    "attempts >= 2 AND state = 'pending'").fetchone()[0]
            finally:
                conn.close()
        wait_for(lambda: attempted() == 3 * len(messages), 30, "every delivery to have failed twice")
        inst.proc.send_signal(signal.SIGKILL)
        inst.proc.wait()
        inst.proc = None
        inst.start()
        smtp.start()
        receiver.start()
        wait_for(lambda: len(smtp.bodies("erin@example.com")) == len(messages)
                 and len(receiver.sms_to("+15551230005")) == len(messages)
                 and len(receiver.hooks_of("erin")) == len(messages), 30, "every message delivered")
        time.sleep(2)  # nothing more arrives
        want = sorted(SEED_TEXT.format(message=m) for m in messages)
        assert sorted(smtp.bodies("erin@example.com")) == want
        assert sorted(receiver.sms_to("+15551230005")) == want
        hooks = receiver.hooks_of("erin")
        assert sorted(h["doc"]["payload"]["message"] for h in hooks) == sorted(messages)
        assert len({h["delivery"] for h in hooks}) == len(messages)
        assert not receiver.bad
        status, _, page = api("GET", "/api/notifications/channels", token=t)
        assert status == 200
        assert "whsec_" not in inst.log() and SMS_KEY not in inst.log()  # secrets never logged
    finally:
        inst.cleanup()
        smtp.stop()
        receiver.stop()


def test_https_only_webhooks_with_a_private_ca(servers):
    """Without allow_http_webhooks: http URLs are refused (422) and deliveries go over verified
    TLS; the receiver's certificate comes from a CA the server trusts through [notifications]
    ca_file (here the instance's own root, which also signed its HTTPS certificate)."""
    smtp, _ = servers
    inst = Instance()
    receiver = Receiver(tls=(str(inst.dir / "pki" / "https.crt"), str(inst.dir / "pki" / "https.key")))
    try:
        inst.configure(settings_for(smtp, receiver, allow_http_webhooks=False, sms_url="",
                                    ca_file=str(inst.ca)))
        inst.start()
        receiver.start()
        api = Api(inst)
        u = Users(api)
        t = u.add("frank@example.com")
        status, _, body = api("PUT", "/api/notifications/channels",
                              {"webhookUrl": f"http://127.0.0.1:{receiver.port}/hook/frank"}, token=t)
        assert (status, body["error"]) == (422, "InvalidWebhookUrl")
        status, _, body = api("PUT", "/api/notifications/channels",
                              {"emailEnabled": False, "webhookUrl": receiver.url("frank")}, token=t)
        assert status == 200 and body["smsAvailable"] is False
        receiver.secrets["frank"] = body["webhookSecret"]
        assert api("POST", "/api/notifications/test", token=t)[0] == 202
        wait_for(lambda: receiver.hooks_of("frank"), 20, "the webhook over https")
        assert len(receiver.hooks_of("frank")) == 1 and not receiver.bad
    finally:
        inst.cleanup()
        receiver.stop()
