"""Fixtures for the payment-method tests: a card form as a customer fills it in, and more."""

from __future__ import annotations

import pytest

# The shared browser fixtures (live server, Chromium, pages) for test_payment_methods_browser.py.
from tests.browser.conftest import (  # noqa: F401
    browser,
    live_server,
    page,
    page_without_js,
    sign_in_browser,
)
from tests.payments.cards import CVC, mm_yy, month_offset


@pytest.fixture
def card_form(now):
    """The add-card form as posted; ``None`` leaves a field out."""

    def make(**overrides) -> dict:
        data = {"name": "Jenny Rosen", "number": "4242 4242 4242 4242",
                "expiry": mm_yy(now, 30), "cvc": CVC, "postal_code": "97712"}
        data.update(overrides)
        return {key: value for key, value in data.items() if value is not None}

    return make


@pytest.fixture
def set_expiry(session, now):
    """Move a saved card's expiry to ``months`` from now (the test gateway refuses to save
    an expired card, but cards expire while saved)."""

    def move(method, months: int):
        method.card_exp_year, method.card_exp_month = month_offset(now, months)
        session.commit()
        return method

    return move


@pytest.fixture
def other_customer(make_customer, make_payment_method):
    """Someone else, with a card of their own."""
    stranger = make_customer(email="mallory@example.com", name="Mallory")
    make_payment_method(stranger, number="5555555555554444")
    return stranger


@pytest.fixture
def events(session):
    """The audit events of a type, oldest first."""
    from sqlalchemy import select

    from portal.events import AuditEvent

    def of_type(type_: str):
        return session.scalars(
            select(AuditEvent).where(AuditEvent.type == type_).order_by(AuditEvent.created)
        ).all()

    return of_type
