"""Only signed-in staff reach /admin; a customer's sign-in and a staff sign-in never mix."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.admin import auth
from portal.admin.models import StaffSession
from portal.events import AuditEvent
from tests.conftest import STAFF_PASSWORD


def _admin_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin") and not rule.endpoint.startswith("admin."):
            yield rule


def _url_for_rule(rule) -> str:
    # Well-formed ids for every converter: the staff check runs before any lookup.
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: f"xx_{m.group(1)}", rule.rule)


def _every_admin_request(app, client):
    """(method, url, response) for every dashboard route, GET and POST."""
    for rule in _admin_rules(app):
        url = _url_for_rule(rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            yield method, url, client.open(url, method=method, data={"name": "x"})


def test_the_dashboard_has_pages_to_protect(app):
    assert len(list(_admin_rules(app))) >= 5


def test_anonymous_visitors_are_sent_to_the_staff_sign_in_from_every_dashboard_page(app, client):
    answers = {(m, u): (r.status_code, r.headers.get("Location", ""))
               for m, u, r in _every_admin_request(app, client)}
    assert answers
    for (method, url), (status, location) in answers.items():
        assert status == 303, (method, url, status)
        assert location.startswith("/admin/sign-in"), (method, url, location)


def test_a_signed_in_customer_never_reaches_a_dashboard_page(app, client, signed_in_customer):
    assert client.get("/p/").status_code == 200  # the customer really is signed in
    for method, url, response in _every_admin_request(app, client):
        assert response.status_code == 303, (method, url)
        assert response.headers["Location"].startswith("/admin/sign-in")


def test_signed_in_staff_see_the_dashboard(client, signed_in_staff):
    response = client.get("/admin/")
    assert response.status_code == 200
    assert signed_in_staff.email in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store, private"


def test_a_staff_sign_in_is_not_a_customer_sign_in(app, client, signed_in_staff):
    token = client.get_cookie(auth.COOKIE_NAME, path=auth.COOKIE_PATH).value
    # Even sent to the customer pages on purpose, the staff cookie signs no customer in.
    client.set_cookie(auth.COOKIE_NAME, token, path="/")
    response = client.get("/p/")
    assert response.status_code == 303
    assert "/p/signed-out" in response.headers["Location"] or "login" in response.headers[
        "Location"]


def _sign_in(client, email="owner@acme.example", password=STAFF_PASSWORD, **extra):
    return client.post("/admin/sign-in", data={"email": email, "password": password, **extra})


def test_staff_sign_in_with_their_password_and_land_on_the_dashboard(client, staff, session):
    response = _sign_in(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{auth.COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert client.get("/admin/").status_code == 200
    event = session.scalars(select(AuditEvent).where(AuditEvent.type == "staff.signed_in")).one()
    assert event.actor == f"staff:{staff.id}"


def test_the_email_is_matched_whatever_its_case(client, staff):
    assert _sign_in(client, email="Owner@ACME.example").status_code == 303


@pytest.mark.parametrize("email, password", [
    ("owner@acme.example", "not the password at all"),
    ("nobody@acme.example", STAFF_PASSWORD),
    ("owner@acme.example", STAFF_PASSWORD.upper()),
])
def test_a_wrong_email_or_password_is_refused_with_one_message(client, staff, session, email,
                                                               password):
    response = _sign_in(client, email=email, password=password)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The email address or password is not right" in page
    assert "<title>Error: " in page
    assert STAFF_PASSWORD not in page  # the password is never sent back
    assert client.get("/admin/").status_code == 303
    assert session.scalars(select(AuditEvent)
                           .where(AuditEvent.type == "staff.sign_in_failed")).one()


@pytest.mark.parametrize("data, message", [
    ({"email": "", "password": STAFF_PASSWORD}, "Enter your email address"),
    ({"email": "owner@acme.example", "password": ""}, "Enter your password"),
])
def test_missing_fields_are_named_next_to_the_field(client, staff, data, message):
    response = client.post("/admin/sign-in", data=data)
    assert response.status_code == 422
    assert message.lower() in response.get_data(as_text=True).lower()


def test_a_deactivated_staff_account_cannot_sign_in(client, make_staff):
    make_staff(active=False)
    assert _sign_in(client).status_code == 422


def test_staff_sign_in_is_rate_limited_per_address_and_network(client, staff):
    for _ in range(5):
        assert _sign_in(client, password="wrong password here").status_code == 422
    response = _sign_in(client)  # even the right password waits now
    assert response.status_code == 429
    assert "Too many attempts to sign in" in response.get_data(as_text=True)
    # The customer on another network is not locked out by this one.
    other = client.application.test_client()
    answer = other.post("/admin/sign-in", data={"email": "owner@acme.example",
                                                "password": STAFF_PASSWORD},
                        environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert answer.status_code == 303


def test_signing_out_ends_the_session_on_the_server(client, signed_in_staff, session):
    token = client.get_cookie(auth.COOKIE_NAME, path=auth.COOKIE_PATH).value
    response = client.post("/admin/sign-out")
    assert response.status_code == 303
    assert client.get("/admin/").status_code == 303
    # A copy of the old cookie is worthless.
    client.set_cookie(auth.COOKIE_NAME, token, path=auth.COOKIE_PATH)
    assert client.get("/admin/").status_code == 303
    assert session.scalars(select(StaffSession)).one().ended_at is not None


def test_an_idle_staff_session_ends(client, staff, sign_in_staff, now):
    sign_in_staff(staff, at=now - timedelta(hours=3))
    assert client.get("/admin/").status_code == 303


@pytest.mark.parametrize("target, expected", [
    ("/admin/customers/", "/admin/customers/"),
    ("//evil.example/admin", "/admin/"),
    ("https://evil.example/", "/admin/"),
    ("/p/overview", "/admin/"),
])
def test_after_sign_in_only_a_dashboard_path_is_followed(client, staff, target, expected):
    response = _sign_in(client, next=target)
    assert response.headers["Location"] == expected


def test_the_sign_in_page_names_its_fields(client_request):
    page = client_request.get("admin.sign_in")
    assert page.select_one("label[for=email]") and page.select_one("label[for=password]")
    assert page.select_one("input#password")["type"] == "password"
    assert page.select_one("input#password")["autocomplete"] == "current-password"


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}], indirect=True)
def test_a_dashboard_upload_over_3_mb_is_refused_before_the_form_is_read(client, signed_in_staff):
    response = client.post("/admin/products/new",
                           data={"image": (io.BytesIO(b"x" * (4 * 1024 * 1024)), "big.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
