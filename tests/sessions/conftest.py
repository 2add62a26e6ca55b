"""Fixtures for billing portal sessions: a catalog, a subscription, and sessions made by the
operation the API calls, followed by the test client as a browser would follow the URL."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from portal.portal_settings.sessions import create_portal_session
from tests.payments.conftest import card_form  # noqa: F401
from tests.subscriptions.conftest import (  # noqa: F401, F811
    allow_updates,
    catalog,
    configure,
    coupon,
    events,
    subscribe,
)

RETURN_URL = "https://acme.example/account"


@pytest.fixture
def jenny(make_customer):
    return make_customer()


@pytest.fixture
def jenny_pro(jenny, make_payment_method, subscribe, catalog):  # noqa: F811
    """Jenny, with a card, on Pro monthly (not signed in: the session URL signs her in)."""
    card = make_payment_method(jenny)
    return subscribe(jenny, catalog["pro_month"], default_payment_method_id=card.id)


@pytest.fixture
def open_session(session, now):
    """Make a portal session as the API would (committed) and return CreatedPortalSession."""
    def make(customer, *, at=None, **params):
        params.setdefault("return_url", RETURN_URL)
        created = create_portal_session(session, customer=customer, now=at or now,
                                        actor="api", base_url="https://billing.acme.example",
                                        **params)
        session.commit()
        return created

    return make


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def follow(client):
    """Visit a session's URL as the customer's browser does (a top-level navigation)."""
    def visit(created, *, using=None, headers=None):
        return (using or client).get(path_of(created.url), headers={
            "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", **(headers or {})})

    return visit
