"""Pages go out compressed (Brotli or gzip, as the browser accepts) and nothing else about a
response changes: status, cookies, redirects, HEAD, PDFs and uploaded images stay as they were."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import pytest

from portal.portal_settings.operations import default_configuration

BROWSER = "gzip, deflate, br, zstd"  # what Chromium sends


def decoded(response) -> bytes:
    body = response.get_data()
    return {"br": brotli.decompress, "gzip": gzip.decompress}.get(
        response.headers.get("Content-Encoding"), bytes)(body)


def without_nonce(body: bytes) -> bytes:
    """The page with its per-response CSP nonce blanked, to compare two responses."""
    return re.sub(rb'nonce="[^"]*"', b'nonce=""', body)


@pytest.fixture
def may_edit_the_address(session):
    default_configuration(session).customer_update_allowed = ["address"]
    session.commit()


@pytest.mark.parametrize(("accept", "encoding"), [
    (BROWSER, "br"),
    ("gzip, deflate", "gzip"),
    ("br;q=0.5, gzip;q=1.0", "gzip"),
    ("identity", None),
    ("", None),
])
def test_pages_are_sent_compressed_as_the_browser_accepts(client, signed_in_customer, accept,
                                                         encoding):
    plain = client.get("/p/")
    response = client.get("/p/", headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == encoding
    assert without_nonce(decoded(response)) == without_nonce(plain.get_data())
    assert int(response.headers["Content-Length"]) == len(response.get_data())


def test_a_compressed_page_is_a_fraction_of_its_size(client, signed_in_customer):
    response = client.get("/p/", headers={"Accept-Encoding": BROWSER})
    assert len(response.get_data()) < len(decoded(response)) / 2


def test_pages_vary_on_the_encoding_as_well_as_on_htmx(client, signed_in_customer):
    # A shared cache must not hand a Brotli page to a browser that asked for gzip.
    response = client.get("/p/", headers={"Accept-Encoding": BROWSER})
    vary = {part.strip() for part in response.headers["Vary"].split(",")}
    assert {"Accept-Encoding", "HX-Request"} <= vary


def test_htmx_fragments_are_compressed_too(client_request, signed_in_customer,
                                           may_edit_the_address):
    response = client_request.get_response("customers.edit_address", _htmx=True,
                                           _headers={"Accept-Encoding": BROWSER})
    assert response.headers["Content-Encoding"] == "br"
    fragment = decoded(response).decode()
    assert 'id="address-section"' in fragment
    assert "<html" not in fragment


@pytest.mark.parametrize(("method", "path", "data", "status"), [
    ("GET", "/p/signed-out", None, 200),
    ("GET", "/p/", None, 200),
    ("GET", "/p/no-such-page", None, 404),
    ("POST", "/p/billing-information/address", {"address-country": "GB", "refresh": "1"}, 200),
    ("POST", "/p/billing-information/address", {"address-country": "US",
                                                "address-shown_country": "US"}, 422),
    ("POST", "/p/sign-out", {}, 303),
])
def test_compression_changes_nothing_but_the_encoding(client, sign_in, signed_in_customer,
                                                      may_edit_the_address, method, path, data,
                                                      status):
    answers = []
    for accept in ("identity", BROWSER):
        sign_in(signed_in_customer)  # again: signing out ended the first session
        answers.append(client.open(path, method=method, data=data,
                                   headers={"Accept-Encoding": accept}))
    plain, compressed = answers
    assert plain.status_code == compressed.status_code == status
    assert plain.headers.get("Location") == compressed.headers.get("Location")
    assert ("Set-Cookie" in plain.headers) == ("Set-Cookie" in compressed.headers)
    assert without_nonce(decoded(compressed)) == without_nonce(plain.get_data())


def test_head_on_a_page_gives_the_compressed_headers_without_a_body(client, signed_in_customer):
    got = client.get("/p/", headers={"Accept-Encoding": BROWSER})
    head = client.head("/p/", headers={"Accept-Encoding": BROWSER})
    assert head.status_code == 200
    assert head.get_data() == b""
    assert head.headers["Content-Encoding"] == "br"
    assert abs(int(head.headers["Content-Length"]) - len(got.get_data())) < 100  # a new nonce


def test_invoice_pdfs_are_sent_whole_and_unencoded(client, signed_in_customer, make_invoice):
    invoice = make_invoice(signed_in_customer, status="paid")
    response = client.get(f"/p/invoices/{invoice.id}/invoice.pdf",
                          headers={"Accept-Encoding": BROWSER})
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "Content-Encoding" not in response.headers
    body = response.get_data()
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")


def test_the_merchants_icon_is_sent_as_uploaded(app, client, session):
    from portal.portal_settings.operations import get_branding

    icon = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    uploads = Path(app.instance_path) / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "icon.png").write_bytes(icon)
    get_branding(session).icon = "icon.png"
    session.commit()
    response = client.get("/branding/icon", headers={"Accept-Encoding": BROWSER})
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.get_data() == icon
