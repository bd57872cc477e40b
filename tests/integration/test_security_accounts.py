"""Account-abuse limits against the real daemon (issue 10, findings 2, 6, 7 and 12's leeway):
reset-code brute force across codes refused, concurrent guesses counted exactly, code issuance
limited with Retry-After, 415 for a body not declared as JSON, access tokens revoked by a password
change or reset, and an expired access token refused after a leeway of a few seconds."""

from __future__ import annotations

import re
import threading
import time

import pytest

from harness import Instance, wait_for

PASSWORD = "correct horse battery"
TTL_S = 60       # the smallest access_token_ttl_s the config accepts
LEEWAY_S = 2


def set_identity_keys(inst: Instance, values: dict) -> None:
    """Sets keys of [identity] in the instance's config (replacing the example's lines)."""
    text = inst.config.read_text()
    head, sep, rest = text.partition("[identity]\n")
    assert sep, "no [identity] section"
    body, nxt, tail = rest.partition("\n[")
    for key, value in values.items():
        line = f"{key} = {value}"
        body, n = re.subn(rf"^{key}\s*=.*$", line, body, flags=re.M)
        if n == 0:
            body = line + "\n" + body
    inst.config.write_text(head + sep + body + nxt + tail)


@pytest.fixture(scope="module")
def inst():
    i = Instance()
    try:
        # Account limits at their defaults (10 submissions, 5 codes per account and window); the
        # address limits are raised because every test here comes from the same loopback address.
        set_identity_keys(i, {"access_token_ttl_s": TTL_S, "token_leeway_s": LEEWAY_S,
                              "max_code_failures_per_address": 100000,
                              "max_codes_per_address": 100000})
        i.start()
        yield i
    finally:
        i.cleanup()


def call(inst, method, path, body=None, token=None, headers=None):
    status, hdrs, data = inst.request(method, path, body, headers, token)
    if status >= 400:
        assert isinstance(data, dict) and data.get("code") == status, (status, data)
    return status, hdrs, data


def code_from_log(inst: Instance, email: str, kind: str) -> str:
    rx = re.compile(rf"{kind} code for {re.escape(email)}: (\d+)")
    return wait_for(lambda: (rx.findall(inst.log()) or [None])[-1], 10, f"{kind} code for {email}")


def codes_in_log(inst: Instance, email: str, kind: str) -> list[str]:
    return re.findall(rf"{kind} code for {re.escape(email)}: (\d+)", inst.log())


def verified_user(inst: Instance, email: str) -> None:
    assert call(inst, "POST", "/api/auth/signup",
                {"email": email, "password": PASSWORD, "name": "T"})[0] == 201
    code = code_from_log(inst, email, "verification")
    assert call(inst, "POST", "/api/auth/verify", {"email": email, "code": code})[0] == 200


def login(inst: Instance, email: str, password: str = PASSWORD) -> dict:
    status, _, data = call(inst, "POST", "/api/auth/login", {"email": email, "password": password})
    assert status == 200, data
    return data


def wrong_for(code: str) -> str:
    return "000000" if code != "000000" else "111111"


@pytest.fixture(scope="module")
def early_token(inst):
    """An access token taken when the module starts, so the leeway test (last) waits less."""
    verified_user(inst, "leeway@example.com")
    return login(inst, "leeway@example.com")["accessToken"], time.time()


def test_body_without_json_content_type_is_415(inst, early_token):
    body = b'{"email": "nobody@example.com", "password": "whatever it is"}'
    for path in ("/api/auth/login", "/api/auth/signup", "/api/auth/password/forgot",
                 "/api/auth/verify/resend"):
        for headers in ({}, {"Content-Type": "text/plain"},
                        {"Content-Type": "application/x-www-form-urlencoded"}):
            status, hdrs, data = call(inst, "POST", path, body, headers=headers)
            assert status == 415 and data["error"] == "UnsupportedMediaType", (path, headers, data)
            assert hdrs["content-type"].startswith("application/json")
    # Parameters are fine, and the header's case does not matter.
    status, _, data = call(inst, "POST", "/api/auth/login", body,
                           headers={"content-type": "Application/JSON; charset=utf-8"})
    assert status == 401 and data["error"] == "InvalidCredentials"
    # A protected route with a body needs it too (authentication runs first, so sign in).
    token = early_token[0]
    status, _, data = call(inst, "POST", "/api/auth/password/change",
                           b'{"currentPassword": "x", "newPassword": "y"}', token=token)
    assert status == 415, data
    # An empty refresh/logout body stays allowed without a Content-Type.
    assert call(inst, "POST", "/api/auth/logout", b"")[0] == 204


def test_forgot_and_guess_cycles_are_refused_after_the_limits(inst):
    email = "target@example.com"
    verified_user(inst, email)
    forgot, guesses = [], []
    for _ in range(40):
        issued = len(codes_in_log(inst, email, "password reset"))
        status, hdrs, _ = call(inst, "POST", "/api/auth/password/forgot", {"email": email})
        forgot.append((status, hdrs.get("retry-after")))
        if status == 202:
            # The code is made and mailed after the answer: guessing before it exists would
            # count against the previous code (and burn it one guess early).
            wait_for(lambda: len(codes_in_log(inst, email, "password reset")) > issued, 10,
                     "the new reset code")
        code = code_from_log(inst, email, "password reset")
        for _ in range(4):
            status, hdrs, data = call(inst, "POST", "/api/auth/password/reset",
                                      {"email": email, "code": wrong_for(code),
                                       "newPassword": "attacker password 1"})
            guesses.append((status, data.get("error"), hdrs.get("retry-after")))
    # Five codes per account and window, then 429 with the seconds until the window ends.
    assert [s for s, _ in forgot[:5]] == [202] * 5
    assert all(s == 429 and int(ra) > 60 for s, ra in forgot[5:]), forgot
    # Ten submissions per account across all its codes: exactly ten were compared with a code.
    checked = [g for g in guesses if g[0] == 422]
    assert len(checked) == 10 and all(g[1] == "InvalidCode" for g in checked), guesses[:12]
    assert all(g[0] == 429 and g[1] == "TooManyAttempts" for g in guesses[10:]), guesses[10:14]
    assert int(guesses[-1][2]) > 60
    # Even the right code is refused now; the password is unchanged.
    right = code_from_log(inst, email, "password reset")
    status, _, _ = call(inst, "POST", "/api/auth/password/reset",
                        {"email": email, "code": right, "newPassword": "attacker password 1"})
    assert status == 429
    login(inst, email)
    # Unknown accounts are limited the same way (the answers do not reveal which exist).
    ghost = [call(inst, "POST", "/api/auth/password/forgot", {"email": "ghost@example.com"})[0]
             for _ in range(6)]
    assert ghost == [202] * 5 + [429]


def test_resend_is_limited_per_account(inst):
    email = "unverified@example.com"
    assert call(inst, "POST", "/api/auth/signup",
                {"email": email, "password": PASSWORD, "name": "U"})[0] == 201
    statuses = [call(inst, "POST", "/api/auth/verify/resend", {"email": email})
                for _ in range(6)]
    assert [s[0] for s in statuses] == [202] * 5 + [429]
    assert int(statuses[-1][1]["retry-after"]) > 60
    # Sign-up + five resends; the mail worker sends them after the answers.
    wait_for(lambda: len(codes_in_log(inst, email, "verification")) == 6, 10, "six codes")


def test_concurrent_guesses_are_counted_exactly(inst):
    email = "racer@example.com"
    verified_user(inst, email)
    assert call(inst, "POST", "/api/auth/password/forgot", {"email": email})[0] == 202
    code = code_from_log(inst, email, "password reset")
    results: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def guess():
        start.wait()
        for _ in range(2):
            status, _, _ = call(inst, "POST", "/api/auth/password/reset",
                                {"email": email, "code": wrong_for(code),
                                 "newPassword": "attacker password 1"})
            with lock:
                results.append(status)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # max_code_attempts = 5: four wrong answers, the fifth burns the code, everything after is
    # refused without being compared. A stale count would let more through.
    assert sorted(results) == [422] * 4 + [429] * 12, sorted(results)
    status, _, data = call(inst, "POST", "/api/auth/password/reset",
                           {"email": email, "code": code, "newPassword": "attacker password 1"})
    assert status == 429 and data["error"] == "TooManyAttempts"


def test_access_token_refused_after_password_change(inst):
    email = "changer@example.com"
    verified_user(inst, email)
    old = login(inst, email)["accessToken"]
    other_device = login(inst, email)["accessToken"]
    assert call(inst, "GET", "/api/auth/me", token=old)[0] == 200
    assert call(inst, "POST", "/api/auth/password/change",
                {"currentPassword": PASSWORD, "newPassword": "changed password 1"},
                token=old)[0] == 204
    for token in (old, other_device):
        status, hdrs, data = call(inst, "GET", "/api/auth/me", token=token)
        assert status == 401 and data["error"] == "InvalidToken", data
        assert "www-authenticate" in hdrs
    fresh = login(inst, email, "changed password 1")["accessToken"]
    assert call(inst, "GET", "/api/auth/me", token=fresh)[0] == 200


def test_access_token_refused_after_password_reset(inst):
    email = "resetter@example.com"
    verified_user(inst, email)
    old = login(inst, email)["accessToken"]
    assert call(inst, "GET", "/api/auth/me", token=old)[0] == 200
    assert call(inst, "POST", "/api/auth/password/forgot", {"email": email})[0] == 202
    code = code_from_log(inst, email, "password reset")
    assert call(inst, "POST", "/api/auth/password/reset",
                {"email": email, "code": code, "newPassword": "reset password 12"})[0] == 204
    status, _, data = call(inst, "GET", "/api/auth/me", token=old)
    assert status == 401 and data["error"] == "InvalidToken", data
    fresh = login(inst, email, "reset password 12")["accessToken"]
    assert call(inst, "GET", "/api/auth/me", token=fresh)[0] == 200
    # The code was single use and took every other outstanding code with it.
    assert call(inst, "POST", "/api/auth/password/reset",
                {"email": email, "code": code, "newPassword": "another password 3"})[0] == 422


def test_expired_access_token_refused_after_a_short_leeway(inst, early_token):
    token, issued = early_token
    assert call(inst, "GET", "/api/auth/me", token=token)[0] == 200
    # exp = issue + TTL_S (whole seconds); refused from exp + LEEWAY_S on. One more second for the
    # rounding of the issue time; the old 30 s leeway would still accept it here.
    time.sleep(max(0.0, issued + TTL_S + LEEWAY_S + 1.5 - time.time()))
    status, _, data = call(inst, "GET", "/api/auth/me", token=token)
    assert status == 401 and data["error"] == "TokenExpired", data
