"""Every login form carries a CSRF token, for plain posts and for htmx (the header)."""

from __future__ import annotations

import json

import pytest
from bs4 import BeautifulSoup


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def token_in(page: BeautifulSoup, form_action: str) -> str:
    form = page.find("form", attrs={"action": form_action})
    return form.find("input", attrs={"name": "csrf_token"})["value"]


def test_each_login_form_refuses_a_post_without_its_token(client, login, customer, mailbox):
    base = f"/p/login/{login.link.id}"
    assert client.post(base, data={"email": "jenny.rosen@example.com"}).status_code == 400
    assert mailbox.codes() == []

    page = soup(client.get(base))
    response = client.post(base, data={"email": "jenny.rosen@example.com",
                                        "csrf_token": token_in(page, base)})
    assert response.status_code == 303

    code = mailbox.latest_code()
    assert client.post(f"{base}/code", data={"code": code}).status_code == 400
    assert client.post(f"{base}/resend-code").status_code == 400
    assert len(mailbox.codes()) == 1

    page = soup(client.get(f"{base}/code"))
    assert token_in(page, f"{base}/resend-code")
    response = client.post(f"{base}/code", data={"code": code,
                                                 "csrf_token": token_in(page, f"{base}/code")})
    assert response.status_code == 303 and response.headers["Location"].endswith("/p/")


def test_htmx_posts_send_the_token_from_the_page_in_a_header(client, login, customer, mailbox):
    base = f"/p/login/{login.link.id}"
    page = soup(client.get(base))
    header = json.loads(page.body["hx-headers:inherited"])["X-CSRFToken"]
    htmx = {"HX-Request": "true", "HX-Request-Type": "partial"}

    refused = client.post(base, data={"email": "jenny.rosen@example.com"}, headers=htmx)
    assert refused.status_code == 400
    response = client.post(base, data={"email": "jenny.rosen@example.com"},
                           headers={**htmx, "X-CSRFToken": header})
    assert response.status_code == 200
    response = client.post(f"{base}/code", data={"code": mailbox.latest_code()},
                           headers={**htmx, "X-CSRFToken": header})
    assert response.headers["HX-Redirect"] == "/p/"


def test_the_sign_out_button_needs_its_token(client, login, customer, mailbox):
    base = f"/p/login/{login.link.id}"
    page = soup(client.get(base))
    client.post(base, data={"email": "jenny.rosen@example.com", "csrf_token": token_in(page, base)})
    page = soup(client.get(f"{base}/code"))
    client.post(f"{base}/code", data={"code": mailbox.latest_code(),
                                      "csrf_token": token_in(page, f"{base}/code")})
    assert client.post("/p/sign-out").status_code == 400
    overview = soup(client.get("/p/"))
    response = client.post("/p/sign-out", data={"csrf_token": token_in(overview, "/p/sign-out")})
    assert response.status_code == 303
    assert client.get("/p/").status_code == 303
