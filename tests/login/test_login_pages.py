"""The login link's pages: what a customer sees before they are signed in."""

from __future__ import annotations

import pytest

from portal.portal_settings.operations import (
    activate_login_link,
    deactivate_login_links,
    default_configuration,
)


def test_the_email_step_asks_for_an_email_with_the_merchants_name(login, client_request):
    page = client_request.get("login.enter_email", link_id=login.link.id)
    assert page.title.text.startswith("Sign in")
    assert page.h1.text == "Sign in to Acme Cloud"
    field = page.find("input", attrs={"name": "email"})
    assert field["autocomplete"] == "email"
    assert field["type"] == "email"
    assert page.find("label", attrs={"for": field["id"]}).text == "Email address"
    form = field.find_parent("form")
    assert form.has_attr("novalidate")
    assert form["hx-post"] == form["action"] == f"/p/login/{login.link.id}"
    assert form["hx-target"] == "#login-step"


@pytest.mark.parametrize("link_id", ["made-up-link-id", "x" * 24, "x" * 500, "nul\x00byte",
                                     "ünïcode", "a b", "' OR 1=1 --"])
def test_an_unknown_link_says_it_is_not_active(client_request, link_id):
    page = client_request.get("login.enter_email", link_id=link_id, _expected_status=404)
    assert page.h1.text == "This login link is not active"
    assert page.find("main").find("form") is None  # nothing to sign in with (the footer keeps its language switcher)


def test_a_rotated_link_says_it_is_not_active_and_the_new_one_works(client_request, login,
                                                                    session, now):
    newer = activate_login_link(session, now=now, rotate=True)
    session.commit()
    page = client_request.get("login.enter_email", link_id=login.link.id, _expected_status=404)
    assert page.h1.text == "This login link is not active"
    assert client_request.get("login.enter_email", link_id=newer.id).h1.text.startswith("Sign in")


def test_deactivating_kills_every_shared_url_on_every_step(client_request, login, session, now,
                                                          customer):
    shared = [
        ("get", "login.enter_email"), ("post", "login.enter_email"),
        ("get", "login.enter_code"), ("post", "login.enter_code"),
        ("post", "login.resend_code"),
    ]
    login.request_code("jenny.rosen@example.com")
    deactivate_login_links(session, now=now)
    session.commit()
    for method, endpoint in shared:
        if method == "get":
            page = client_request.get(endpoint, link_id=login.link.id, _expected_status=404)
        else:
            page = client_request.post(endpoint, link_id=login.link.id, _expected_status=404,
                                       _data={"email": "jenny.rosen@example.com", "code": "123456"})
        assert "This login link is not active" in page.text, endpoint


def test_switching_the_login_page_off_in_the_configuration_kills_the_link(client_request, login,
                                                                          session):
    default_configuration(session).login_page_enabled = False
    session.commit()
    client_request.get("login.enter_email", link_id=login.link.id, _expected_status=404)


def test_a_prefilled_email_fills_the_field_and_can_be_changed(client_request, login, customer,
                                                             mailbox):
    page = client_request.get("login.enter_email", link_id=login.link.id,
                              prefilled_email="jenny.rosen@example.com")
    assert page.find("input", attrs={"name": "email"})["value"] == "jenny.rosen@example.com"
    login.request_code("ana.silva@example.com")
    assert mailbox.codes() == []  # the customer changed the address; nothing went to Jenny


@pytest.mark.parametrize("value", [
    "not an email",
    "jenny@",
    '"><script>alert(1)</script>@example.com',
    "jenny@example.com\r\nBcc: everyone@example.com",
    "a" * 400 + "@example.com",
])
def test_a_malformed_prefilled_email_is_simply_not_used(client_request, login, value):
    response = client_request.get_response("login.enter_email", link_id=login.link.id,
                                           prefilled_email=value)
    body = response.get_data(as_text=True)
    assert "<script>alert(1)" not in body
    field = client_request.get("login.enter_email", link_id=login.link.id,
                               prefilled_email=value).find("input", attrs={"name": "email"})
    assert not field.get("value")


def test_a_prefilled_email_is_escaped(client_request, login):
    value = "o'brien&sons+<x>@example.com"
    response = client_request.get_response("login.enter_email", link_id=login.link.id,
                                           prefilled_email="o'brien&sons@example.com")
    body = response.get_data(as_text=True)
    assert "o&#39;brien&amp;sons@example.com" in body
    response = client_request.get_response("login.enter_email", link_id=login.link.id,
                                           prefilled_email=value)
    assert "<x>" not in response.get_data(as_text=True)


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("email", "message"), [
    ("", "Enter your email address"),
    ("   ", "Enter your email address"),
    ("jenny", "Enter an email address in the correct format, like name@example.com"),
    ("jenny@@example.com", "Enter an email address in the correct format, like name@example.com"),
])
def test_a_bad_email_is_explained_next_to_the_field_and_kept(client_request, login, email,
                                                            message, htmx):
    page = client_request.post("login.enter_email", link_id=login.link.id, _htmx=htmx,
                               _data={"email": email}, _expected_status=422)
    summary = page.find(class_="error-summary")
    assert summary.find("a", href="#email").text == message
    assert page.find(id="email-error").text.strip() == f"Error: {message}"
    assert page.find("input", attrs={"name": "email"}).get("value", "") == email.strip()
    assert page.title.text.startswith("Error: Sign in")
    if htmx:  # a fragment; htmx moves its <title> to the document
        assert page.find("html") is None and page.find(True)["id"] == "login-step"


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("code", "message"), [
    ("", "Enter the code from the email"),
    ("  ", "Enter the code from the email"),
    ("12345", "Enter the 6-digit code from the email"),
    ("1234567", "Enter the 6-digit code from the email"),
    ("abcdef", "Enter the 6-digit code from the email"),
    ("١٢٣٤٥٦", "Enter the 6-digit code from the email"),
])
def test_a_malformed_code_is_explained_and_does_not_use_up_a_try(client_request, login, customer,
                                                                code, message, htmx, session):
    from sqlalchemy import select

    from portal.customers.models import LoginPasscode

    login.request_code("jenny.rosen@example.com")
    page = client_request.post("login.enter_code", link_id=login.link.id, _htmx=htmx,
                               _data={"code": code}, _expected_status=422)
    assert page.find(class_="error-summary").find("a", href="#code").text == message
    assert session.scalars(select(LoginPasscode)).one().attempts == 0
    assert page.title.text.startswith("Error: Enter your code")


def test_a_wrong_code_says_how_many_tries_are_left(client_request, login, customer, mailbox):
    login.request_code("jenny.rosen@example.com")
    right = mailbox.latest_code()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    page = client_request.post("login.enter_code", link_id=login.link.id, _data={"code": wrong},
                               _expected_status=422)
    assert "The code is not right. Check the email and try again (4 tries left)" in page.text
    assert page.find("input", attrs={"name": "code"})["value"] == wrong
    assert page.title.text.startswith("Error: Enter your code")


def test_an_expired_code_asks_for_a_new_one(client_request, login, customer, mailbox, session):
    from datetime import timedelta

    from sqlalchemy import select

    from portal.customers.models import LoginPasscode

    login.request_code("jenny.rosen@example.com")
    row = session.scalars(select(LoginPasscode)).one()
    row.expires_at = row.created - timedelta(seconds=1)
    session.commit()
    page = client_request.post("login.enter_code", link_id=login.link.id,
                               _data={"code": mailbox.latest_code()}, _expected_status=422)
    assert "That code has expired. Send a new code below" in page.text
    assert page.find("button", string="Resend code")


def test_the_login_pages_are_small(client, login, customer):
    """Budgets in bytes of HTML: these pages load first, often on a slow phone."""
    base = f"/p/login/{login.link.id}"
    sizes = {
        "email page": len(client.get(f"{base}?prefilled_email=jenny.rosen@example.com").data),
        "code fragment": len(client.post(base, data={"email": "jenny.rosen@example.com"},
                                         headers={"HX-Request": "true"}).data),
        "code page": len(client.get(f"{base}/code").data),
    }
    assert sizes["email page"] < 3000, sizes
    assert sizes["code page"] < 4000, sizes
    assert sizes["code fragment"] < 2500, sizes
