"""Every error a customer can meet is a branded page, and the error pages cannot fail."""

from __future__ import annotations

import io

import pytest
from bs4 import BeautifulSoup
from sqlalchemy.exc import OperationalError
from werkzeug.serving import DechunkedInput

from portal.extensions import db
from portal.portal_settings.models import Branding


@pytest.fixture
def app_config():
    # Unhandled errors reach the 500 page, as in production (TESTING would raise them here).
    return {"PROPAGATE_EXCEPTIONS": False}


@pytest.fixture
def branding(session):
    from portal.portal_settings.operations import get_branding

    brand = get_branding(session)
    brand.business_name = "Acme Cloud"
    session.commit()
    return brand


def page_of(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def test_a_post_only_address_opened_in_the_browser_is_a_branded_405_that_keeps_allow(
        client, signed_in_customer, branding, make_payment_method):
    method = make_payment_method(signed_in_customer)
    response = client.get(f"/p/payment-methods/{method.id}/make-default")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    page = page_of(response)
    assert page.h1.text == "This page cannot be used that way"
    assert "Acme Cloud" in page.title.text
    assert "Go back" in page.main.text


def test_a_form_too_large_to_read_is_a_branded_413(client, signed_in_customer, session,
                                                  branding):
    response = client.post("/p/billing-information/name", data={"name": "x" * 600_000})
    assert response.status_code == 413
    page = page_of(response)
    assert page.h1.text == "That was too much to send"
    assert "Acme Cloud" in page.title.text
    session.expire_all()
    assert signed_in_customer.name == "Jenny Rosen"


def test_a_json_body_gets_a_branded_415_page(client, signed_in_customer, branding):
    response = client.post("/p/billing-information/name", json={"name": "Mallory"})
    assert response.status_code == 415
    page = page_of(response)
    assert page.h1.text == "This form must be sent from the page it is on"
    assert "Acme Cloud" in page.title.text


@pytest.mark.parametrize("body", [b"zz\r\nname=Mallory\r\n0\r\n\r\n",  # not a chunk size
                                  b"5\r\nname=Mallory",  # a chunk longer than what came
                                  b"3\r\nnam\r\n-1\r\ne=x\r\n0\r\n\r\n"])
def test_a_broken_chunked_body_is_a_400_not_a_500(client, signed_in_customer, session, body,
                                                  branding):
    # What the development server and gunicorn hand the app for Transfer-Encoding: chunked.
    response = client.post("/p/billing-information/name",
                           content_type="application/x-www-form-urlencoded",
                           headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input": DechunkedInput(io.BytesIO(body)),
                                              "wsgi.input_terminated": True})
    assert response.status_code == 400
    assert page_of(response).h1.text == "The form did not arrive in one piece"
    session.expire_all()
    assert signed_in_customer.name == "Jenny Rosen"


def test_a_body_shorter_than_its_content_length_is_a_400(client, signed_in_customer, branding):
    response = client.post("/p/billing-information/name",
                           content_type="application/x-www-form-urlencoded",
                           environ_overrides={"wsgi.input": io.BytesIO(b"name=Mall"),
                                              "CONTENT_LENGTH": "500"})
    assert response.status_code == 400
    assert page_of(response).h1.text == "The form did not arrive in one piece"


def _add_broken_route(app):
    """A view whose flush fails, leaving the session needing a rollback (PendingRollbackError
    on the next query), as a database error in any real view would."""

    def broken():
        db.session.expunge_all()
        db.session.add(Branding(id=1, business_name="Duplicate", brand_color="#000000",
                                accent_color="#000000", invoice_prefix="DUP"))
        db.session.flush()
        return "unreachable"

    app.add_url_rule("/p/test-broken-session", "test_broken_session", broken)


def test_the_500_page_after_a_database_error_is_the_branded_page(app, client, branding):
    _add_broken_route(app)
    response = client.get("/p/test-broken-session")
    assert response.status_code == 500
    page = page_of(response)
    assert page.h1.text == "Sorry, something went wrong"
    assert "Acme Cloud" in page.title.text


def test_when_even_the_error_page_fails_a_static_page_with_the_business_name_is_shown(
        app, client, branding, monkeypatch):
    _add_broken_route(app)
    client.get("/p/signed-out")  # a page drawn while the database worked

    def database_down(session):
        raise OperationalError("SELECT branding", {}, Exception("server closed the connection"))

    monkeypatch.setattr("portal.portal_settings.operations.get_branding", database_down)
    response = client.get("/p/test-broken-session")
    assert response.status_code == 500
    page = page_of(response)
    assert page.h1.text == "Sorry, something went wrong"
    assert "Acme Cloud" in page.title.text


def test_a_404_while_the_database_is_down_is_a_static_page_too(client, monkeypatch):
    def database_down(session):
        raise OperationalError("SELECT branding", {}, Exception("connection refused"))

    monkeypatch.setattr("portal.portal_settings.operations.get_branding", database_down)
    response = client.get("/p/no-such-page")
    assert response.status_code == 404
    page = page_of(response)
    assert page.h1.text == "Page not found"
    assert "Billing portal" in page.title.text
