"""Caching and Content-Security-Policy headers, whatever the answer."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

NO_STORE = "no-store, private"


def _csp_nonce(response) -> str:
    match = re.search(r"'nonce-([^']*)'", response.headers["Content-Security-Policy"])
    assert match, response.headers["Content-Security-Policy"]
    return match.group(1)


def _style_nonce(response) -> str:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser").style["nonce"]


# ---- no customer page is ever kept in a cache ------------------------------------------------------

@pytest.fixture
def invoice(signed_in_customer, make_invoice):
    return make_invoice(signed_in_customer, status="paid")


@pytest.mark.parametrize("path, status", [
    ("/p/", 200),
    ("/p/invoices", 200),
    ("/p/invoices/{invoice}", 200),
    ("/p/invoices/{invoice}/invoice.pdf", 200),
    ("/p/invoices/{invoice}/receipt.pdf", 200),
    ("/p/invoices/in_made_up", 404),
    ("/p/no-such-page", 404),
])
def test_every_signed_in_answer_is_kept_out_of_caches(client, invoice, path, status):
    response = client.get(path.format(invoice=invoice.id))
    assert response.status_code == status
    assert response.headers["Cache-Control"] == NO_STORE
    assert "Expires" not in response.headers


def test_a_pdf_download_is_not_cached_even_though_send_file_allows_it(client, invoice):
    response = client.get(f"/p/invoices/{invoice.id}/invoice.pdf")
    assert response.mimetype == "application/pdf"
    assert "public" not in response.headers["Cache-Control"]
    assert "max-age" not in response.headers["Cache-Control"]


@pytest.mark.parametrize("method, path, status", [
    ("get", "/p/", 303),                  # signed out: sent to sign in
    ("get", "/p/signed-out", 200),
    ("get", "/p/login/not-a-link", 404),
    ("post", "/p/sign-out", 303),
])
def test_signed_out_answers_and_redirects_are_kept_out_of_caches_too(client, method, path,
                                                                     status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == NO_STORE


def test_a_refused_form_is_kept_out_of_caches(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/p/sign-out")
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == NO_STORE


def test_static_files_with_a_content_hash_are_still_cached_for_a_year(client):
    page = client.get("/p/signed-out").get_data(as_text=True)
    url = re.search(r'href="(/static/portal\.[0-9a-f]{12}\.css)"', page).group(1)
    assert "max-age=31536000" in client.get(url).headers["Cache-Control"]


# ---- the CSP nonce is real on every page ---------------------------------------------------------

def test_a_page_names_the_nonce_its_style_carries_and_a_new_one_each_time(client):
    first, second = client.get("/p/signed-out"), client.get("/p/signed-out")
    assert len(_csp_nonce(first)) >= 16
    assert _style_nonce(first) == _csp_nonce(first)
    assert _csp_nonce(second) != _csp_nonce(first)


def test_the_csrf_failure_page_carries_a_real_nonce(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/p/sign-out")
    assert response.status_code == 400
    assert "Something was wrong with that request" in response.get_data(as_text=True)
    nonce = _csp_nonce(response)
    assert len(nonce) >= 16
    assert _style_nonce(response) == nonce


def test_an_error_page_carries_the_same_nonce_as_its_header(client):
    response = client.get("/p/no-such-page")
    assert response.status_code == 404
    assert _style_nonce(response) == _csp_nonce(response) != ""


def test_development_sends_no_strict_transport_security(client):
    assert "Strict-Transport-Security" not in client.get("/p/signed-out").headers


def test_htmx_answers_carry_no_content_security_policy_but_pages_do(client, signed_in_customer):
    page = client.get("/p/billing-information")
    fragment = client.get("/p/billing-information/name",
                          headers={"HX-Request": "true", "HX-Target": "#name-section"})
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert "Content-Security-Policy" not in fragment.headers
