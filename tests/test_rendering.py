"""Full page or fragment (portal/rendering.py), decided from htmx's request headers. When the
customer presses Back over a URL htmx pushed, htmx 4.0.1 asks for that URL again with
``HX-History-Restore-Request: true`` and ``HX-Request-Type: full`` (and no ``HX-Request``; see
``#$e`` in static/vendor/htmx-4.0.1.min.js) and puts the answer in place of the whole body: it
must be the whole page, never the fragment, or the page comes back without its header,
navigation and footer. Every answer says ``Vary: HX-Request``, so no cache hands a fragment to a
plain visit or the page to htmx."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from portal.customers.models import Customer
from portal.demo import JENNY, seed_demo
from portal.invoices.models import Invoice
from portal.subscriptions.models import Subscription

FULL_PAGE_HEADERS = {
    "a history restore, as htmx 4.0.1 sends it": {
        "HX-History-Restore-Request": "true", "HX-Request-Type": "full"},
    "a history restore that also says HX-Request (htmx 2, or an extension)": {
        "HX-Request": "true", "HX-History-Restore-Request": "true"},
    "a history restore that says partial": {
        "HX-Request": "true", "HX-History-Restore-Request": "true", "HX-Request-Type": "partial"},
    "a request that swaps the body": {"HX-Request": "true", "HX-Request-Type": "full"},
    "a boosted link": {"HX-Request": "true", "HX-Boosted": "true"},
}
PARTIAL = {"HX-Request": "true", "HX-Request-Type": "partial"}


@pytest.fixture
def pages(session, sign_in, now) -> dict[str, tuple[str, str]]:
    """Customer pages that have a fragment: path -> (an id only the fragment's page has
    around it, the fragment's root id)."""
    seed_demo(session, now=now)
    session.commit()
    jenny = session.scalars(select(Customer).where(Customer.email == JENNY)
                            .order_by(Customer.created.desc())).first()
    subscription = session.scalars(select(Subscription)
                                   .where(Subscription.customer_id == jenny.id)).one()
    invoice = session.scalars(select(Invoice).where(Invoice.customer_id == jenny.id,
                                                    Invoice.status == "open")).one()
    sign_in(jenny)
    return {
        f"/p/subscriptions/{subscription.id}": "subscription-panel",
        f"/p/subscriptions/{subscription.id}/change": "subscription-panel",
        f"/p/subscriptions/{subscription.id}/cancel": "subscription-panel",
        "/p/payment-methods": "payment-methods",
        "/p/invoices": "invoice-history",
        f"/p/invoices/{invoice.id}": "invoice-payment",
    }


def _vary(response) -> set[str]:
    return {part.strip() for part in response.headers.get("Vary", "").split(",")}


def test_history_restores_and_whole_body_swaps_get_the_full_page(client, pages):
    # One seeded demo for every case (seeding is most of this test's time).
    for case, headers in FULL_PAGE_HEADERS.items():
        for path, fragment_id in pages.items():
            response = client.get(path, headers=headers)
            where = f"{path}, {case}"
            assert response.status_code == 200, where
            html = BeautifulSoup(response.get_data(as_text=True), "html.parser")
            assert html.find("html") is not None, f"{where}: a fragment, not the page"
            assert html.select_one("nav.site-nav") and html.select_one("#announcements"), where
            assert html.select_one(f"main #{fragment_id}") is not None, where
            assert "HX-Request" in _vary(response), where


def test_a_partial_request_gets_only_the_fragment_and_also_varies_on_htmx(client, pages):
    for path, fragment_id in pages.items():
        response = client.get(path, headers=PARTIAL)
        assert response.status_code == 200, path
        html = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        assert html.find("html") is None and html.select_one("nav") is None, path
        assert html.find(id=fragment_id) is not None, path
        assert "HX-Request" in _vary(response), path


def test_a_plain_visit_varies_on_htmx_too(client, pages):
    for path in [*pages, "/p/", "/p/billing-information"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "HX-Request" in _vary(response), path
