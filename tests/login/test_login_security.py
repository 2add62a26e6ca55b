"""The login's security properties, each shown by what an attacker would try."""

from __future__ import annotations

import base64
import hashlib
import hmac as hmac_module
import json
import re
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.customers.models import LoginPasscode, SignInSession


def decode_without_the_secret(cookie_value: str) -> dict:
    """What anyone holding the cookie can read: Flask signs the session, it does not encrypt it."""
    compressed = cookie_value.startswith(".")
    payload = cookie_value.lstrip(".").split(".")[0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    if compressed:
        data = zlib.decompress(data)
    return json.loads(data)


def session_cookie(client) -> str:
    return client.get_cookie("portal_session").value


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# ---- the cookie holds no code ----------------------------------------------------------------

def test_the_session_cookie_decoded_without_the_secret_holds_no_code_and_no_hmac(
        login, client, customer, mailbox, session):
    login.request_code("jenny.rosen@example.com")
    code = mailbox.latest_code()
    row = session.scalars(select(LoginPasscode)).one()
    raw = session_cookie(client)
    contents = decode_without_the_secret(raw)

    text = json.dumps(contents)
    assert code not in text and code not in raw
    assert row.code_hmac not in text and row.code_hmac[:16] not in text
    # Only which link and which passcode row: an id random on its own, not made from the code.
    assert contents["login"] == {"link": login.link.id, "passcode": row.id}
    assert set(contents) <= {"login", "csrf_token", "_flashes"}


def test_the_cookie_holds_no_code_after_wrong_tries_or_a_resend_either(
        login, client, customer, mailbox):
    login.request_code("jenny.rosen@example.com")
    login.enter_code(wrong(mailbox.latest_code()), expected_status=422)
    login.resend()
    for code in mailbox.codes():
        assert code not in json.dumps(decode_without_the_secret(session_cookie(client)))


# ---- replaying an old cookie ---------------------------------------------------------------

def test_replaying_an_old_cookie_after_the_attempt_limit_is_refused(
        login, client, client_request, customer, mailbox, session):
    login.request_code("jenny.rosen@example.com")
    code = mailbox.latest_code()
    before_any_try = session_cookie(client)
    for _ in range(5):
        login.enter_code(wrong(code), expected_status=422)
    locked = client_request.post("login.enter_code", link_id=login.link.id,
                                 _data={"code": code}, _expected_status=422)
    assert "That code was entered wrongly too many times" in locked.text

    client.set_cookie("portal_session", before_any_try)
    replayed = client_request.post("login.enter_code", link_id=login.link.id,
                                   _data={"code": code}, _expected_status=422)
    assert "That code was entered wrongly too many times" in replayed.text
    assert session.scalars(select(SignInSession)).all() == []
    client_request.get_response("customers.overview", _expected_status=303)
    assert session.scalars(select(LoginPasscode)).one().attempts == 5


def test_replaying_the_pre_login_cookie_after_signing_in_does_not_sign_in_again(
        login, client, client_request, customer, mailbox, session):
    login.request_code("jenny.rosen@example.com")
    code = mailbox.latest_code()
    pre_login = session_cookie(client)
    login.enter_code(code)
    post_login = session_cookie(client)
    assert post_login != pre_login

    client.set_cookie("portal_session", pre_login)
    client_request.get_response("customers.overview", _expected_status=303)
    response = login.enter_code(code)  # the used code: back to the email step
    assert response.headers["Location"].endswith(f"/p/login/{login.link.id}")
    assert len(session.scalars(select(SignInSession)).all()) == 1


# ---- session rotation --------------------------------------------------------------------------

def test_signing_in_rotates_the_session(login, client, customer, mailbox, session):
    # A session id planted before login (session fixation) must not survive it.
    with client.session_transaction() as planted:
        planted["sid"] = "planted-by-an-attacker"
    login.request_code("jenny.rosen@example.com")
    pre_login = decode_without_the_secret(session_cookie(client))
    login.enter_code(mailbox.latest_code())
    post_login = decode_without_the_secret(session_cookie(client))

    record = session.scalars(select(SignInSession)).one()
    assert post_login["sid"] != "planted-by-an-attacker"
    # The cookie carries a token; the table keeps only its hash, so a copy of it signs nobody in.
    assert record.id == hashlib.sha256(post_login["sid"].encode()).hexdigest() != post_login["sid"]
    assert "login" not in post_login and "login" in pre_login


# ---- cookie attributes -----------------------------------------------------------------------

def _session_set_cookie(response) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("portal_session=")]
    assert headers, response.headers
    return headers[-1]


def test_the_cookie_is_httponly_and_samesite_lax_and_not_secure_over_plain_http(
        login, client, customer):
    header = _session_set_cookie(login.request_code("jenny.rosen@example.com"))
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header


def test_the_cookie_is_secure_when_served_over_https(login, client, customer):
    response = client.post(f"/p/login/{login.link.id}", data={"email": "jenny.rosen@example.com"},
                           base_url="https://portal.example")
    header = _session_set_cookie(response)
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_a_forwarded_proto_header_is_not_trusted_without_a_proxy_configured(login, client,
                                                                           customer):
    response = client.post(f"/p/login/{login.link.id}", data={"email": "jenny.rosen@example.com"},
                           headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in _session_set_cookie(response)


class TestBehindAProxy:
    @pytest.fixture
    def app_config(self):
        return {"PROXY_FIX_X_FOR": 1}

    def test_the_cookie_is_secure_when_the_proxy_says_https(self, login, client, customer):
        response = client.post(f"/p/login/{login.link.id}",
                               data={"email": "jenny.rosen@example.com"},
                               headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in _session_set_cookie(response)

    def test_the_cookie_is_not_secure_when_the_proxy_says_http(self, login, client, customer):
        response = client.post(f"/p/login/{login.link.id}",
                               data={"email": "jenny.rosen@example.com"},
                               headers={"X-Forwarded-Proto": "http"})
        assert "Secure" not in _session_set_cookie(response)


def test_the_signed_in_cookie_expires_after_the_idle_period(login, client, customer, mailbox):
    from email.utils import parsedate_to_datetime

    from portal.dbtypes import utcnow

    login.request_code("jenny.rosen@example.com")
    header = _session_set_cookie(login.enter_code(mailbox.latest_code()))
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", header).group(1))
    assert abs((expires - utcnow()).total_seconds() - 3600) < 60


class TestCookieSettings:
    @pytest.fixture
    def app_config(self):
        return {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_SAMESITE": None,
                "SESSION_COOKIE_HTTPONLY": False}

    def test_secure_can_be_forced_and_the_safe_attributes_cannot_be_switched_off(
            self, login, client, customer):
        header = _session_set_cookie(login.request_code("jenny.rosen@example.com"))
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


# ---- idle expiry -------------------------------------------------------------------------------

def _signed_in(login, mailbox):
    login.request_code("jenny.rosen@example.com")
    login.enter_code(mailbox.latest_code())


def test_a_session_idle_for_more_than_an_hour_is_signed_out_on_the_server(
        login, client, client_request, customer, mailbox, session):
    _signed_in(login, mailbox)
    record = session.scalars(select(SignInSession)).one()
    record.last_seen = record.last_seen - timedelta(minutes=61)
    session.commit()
    response = client_request.get_response("customers.overview", _expected_status=303)
    assert "/p/signed-out" in response.headers["Location"]


def test_activity_within_the_hour_keeps_the_session_alive(login, client_request, customer,
                                                          mailbox, session):
    _signed_in(login, mailbox)
    record = session.scalars(select(SignInSession)).one()
    record.last_seen = record.last_seen - timedelta(minutes=59)
    session.commit()
    client_request.get_response("customers.overview", _expected_status=200)
    session.expire_all()
    touched = session.scalars(select(SignInSession)).one().last_seen
    assert touched > record.created - timedelta(minutes=1)


class TestAShorterIdlePeriod:
    @pytest.fixture
    def app_config(self):
        return {"PERMANENT_SESSION_LIFETIME": timedelta(minutes=5)}

    def test_the_idle_period_comes_from_the_configuration(self, login, client_request, customer,
                                                          mailbox, session):
        _signed_in(login, mailbox)
        record = session.scalars(select(SignInSession)).one()
        record.last_seen = record.last_seen - timedelta(minutes=6)
        session.commit()
        client_request.get_response("customers.overview", _expected_status=303)


# ---- constant-time comparison ----------------------------------------------------------------

def test_codes_are_compared_in_constant_time(login, customer, mailbox, session, monkeypatch):
    calls = []
    real = hmac_module.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("portal.login.operations.hmac.compare_digest", spy)
    login.request_code("jenny.rosen@example.com")
    code = mailbox.latest_code()
    login.enter_code(wrong(code), expected_status=422)
    login.enter_code(code)
    stored = session.scalars(select(LoginPasscode)).one().code_hmac
    # (itsdangerous compares the cookie signatures with it too; count only the code checks)
    assert len([pair for pair in calls if stored in pair]) == 2


# ---- email change through a login-link session -----------------------------------------------

def test_a_login_link_session_may_not_change_the_email(app, login, client, customer, mailbox,
                                                       session):
    from portal.customers.auth import current_sign_in, email_change_allowed
    from portal.portal_settings.operations import default_configuration

    configuration = default_configuration(session)
    configuration.customer_update_allowed = ["email", "name"]
    session.commit()
    _signed_in(login, mailbox)
    with app.test_request_context(headers={"Cookie": f"portal_session={session_cookie(client)}"}):
        assert current_sign_in().via == "login_link"
        assert email_change_allowed(configuration) is False


@pytest.mark.parametrize(("allowed", "expected"), [(["email", "name"], True), (["name"], False)])
def test_a_merchant_made_session_follows_the_configuration(app, client, customer, sign_in,
                                                           session, allowed, expected):
    from portal.customers.auth import email_change_allowed
    from portal.portal_settings.operations import default_configuration

    configuration = default_configuration(session)
    configuration.customer_update_allowed = allowed
    session.commit()
    sign_in(customer, via="portal_session")
    with app.test_request_context(headers={"Cookie": f"portal_session={session_cookie(client)}"}):
        assert email_change_allowed(configuration) is expected


def test_nobody_signed_in_may_change_an_email(app):
    from portal.customers.auth import email_change_allowed

    with app.test_request_context():
        assert email_change_allowed() is False


def test_a_copy_of_the_sign_in_table_signs_nobody_in(client, customer, session, now):
    from portal.customers.auth import SESSION_KEY, open_sign_in_session

    record, token = open_sign_in_session(customer.id, now=now)
    session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = record.id  # what someone reading the database would have
    assert client.get("/p/").status_code == 303
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = token  # what only the customer's browser has
    assert client.get("/p/").status_code == 200
