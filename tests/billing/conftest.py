"""Fixtures for the billing engine: fixed dates, a gateway that counts its charges, a plan,
a customer with a card, and ``bill(at)`` to run the engine as of a moment."""

from __future__ import annotations

from datetime import datetime

import pytest

from portal.billing import engine
from portal.billing.policy import BillingPolicy
from portal.payments.gateway import get_gateway
from tests.billing.helpers import FEB_1, GATEWAY_SPEC, JAN_1
from tests.invoices.counting_gateway import CountingGateway


@pytest.fixture
def app_config() -> dict:
    return {"PAYMENT_GATEWAY": GATEWAY_SPEC}


@pytest.fixture
def gateway(app):
    """The counting gateway's class; its counts start at zero in every test."""
    CountingGateway.reset()
    yield CountingGateway
    CountingGateway.reset()


@pytest.fixture
def policy() -> BillingPolicy:
    return BillingPolicy()


@pytest.fixture
def bill(app, session, gateway, policy):
    """Run the engine as of ``at``, as the command does, and return its summary."""

    def run(at: datetime, *, dry_run: bool = False, policy_: BillingPolicy | None = None):
        summary = engine.run(session, now=at, gateway=get_gateway(), policy=policy_ or policy,
                             dry_run=dry_run)
        session.expire_all()
        return summary

    return run


@pytest.fixture
def pro(make_price):
    """$29.00 a month."""
    return make_price(name="Pro", unit_amount=2900)


@pytest.fixture
def card(customer, make_payment_method):
    """The customer's default card; charges succeed."""
    return make_payment_method(customer)


@pytest.fixture
def monthly(customer, card, pro, make_subscription):
    """Pro for the customer, its first period January 2027, charged automatically."""
    return make_subscription(customer, pro, current_period_start=JAN_1,
                             current_period_end=FEB_1, billing_cycle_anchor=JAN_1)
