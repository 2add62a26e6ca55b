"""Fixtures for the subscription tests: a catalog with several products and intervals, the
portal configuration as a test wants it, and a subscription in the middle of its period."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from portal.billing.calc import add_months
from portal.catalog.models import Coupon, Price, Product
from portal.events import AuditEvent
from portal.portal_settings.operations import default_configuration
from portal.subscriptions.models import Subscription, SubscriptionItem

# The shared browser fixtures for the Chromium tests in this folder.
from tests.browser.conftest import (  # noqa: F401
    browser,
    live_server,
    page,
    page_without_js,
    sign_in_browser,
)


@pytest.fixture
def catalog(session, now):
    """Starter, Pro (monthly and yearly) and Team (per seat), in dollars, plus a Pro in euros."""
    def product(name, unit_label=None):
        made = Product(name=name, unit_label=unit_label, active=True, created=now, metadata_={})
        session.add(made)
        return made

    starter, pro, team = product("Starter"), product("Pro"), product("Team", "seat")
    prices = {}
    for key, prod, amount, interval, currency in [
        ("starter_month", starter, 900, "month", "usd"),
        ("pro_month", pro, 2900, "month", "usd"),
        ("pro_year", pro, 29000, "year", "usd"),
        ("team_month", team, 1500, "month", "usd"),
        ("pro_month_eur", pro, 2700, "month", "eur"),
    ]:
        prices[key] = Price(product=prod, unit_amount=amount, currency=currency,
                            recurring_interval=interval, recurring_interval_count=1,
                            active=True, created=now, metadata_={}, nickname=key)
        session.add(prices[key])
    session.commit()
    return prices


@pytest.fixture
def configure(session):
    """Set fields of the default portal configuration."""
    def set_fields(**fields):
        configuration = default_configuration(session)
        for name, value in fields.items():
            setattr(configuration, name, value)
        session.commit()
        return configuration

    return set_fields


@pytest.fixture
def allow_updates(configure, catalog):
    """Plan switching among all the dollar prices, Team's seats from 1 to 50."""
    def allow(**overrides):
        fields = dict(
            subscription_update_enabled=True,
            subscription_update_default_allowed_updates=["price", "quantity"],
            subscription_update_products=[
                {"product": catalog["starter_month"].product_id,
                 "prices": [catalog["starter_month"].id]},
                {"product": catalog["pro_month"].product_id,
                 "prices": [catalog["pro_month"].id, catalog["pro_year"].id]},
                {"product": catalog["team_month"].product_id,
                 "prices": [catalog["team_month"].id],
                 "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 50}},
            ],
            subscription_update_proration_behavior="create_prorations",
            schedule_at_period_end_conditions=["decreasing_item_amount"],
            trial_update_behavior="end_trial",
        )
        fields.update(overrides)
        return configure(**fields)

    return allow


@pytest.fixture
def coupon(session, now):
    made = Coupon(name="50% off for 3 months", percent_off=Decimal(50), duration="repeating",
                  duration_in_months=3, active=True, created=now, metadata_={})
    session.add(made)
    session.commit()
    return made


@pytest.fixture
def subscribe(session, now):
    """A subscription to ``price`` whose period began ``days_in`` days ago (a month long)."""
    def make(customer, price, *, quantity=1, days_in=3, status="active", start=None, **fields):
        start = start or (now - timedelta(days=days_in))
        end = fields.pop("current_period_end", None) or (
            add_months(start, 12) if price.recurring_interval == "year" else add_months(start, 1))
        sub = Subscription(customer_id=customer.id, status=status, currency=price.currency,
                           current_period_start=start, current_period_end=end,
                           billing_cycle_anchor=fields.pop("billing_cycle_anchor", start),
                           collection_method="charge_automatically", created=start,
                           metadata_={}, **fields)
        sub.items.append(SubscriptionItem(price=price, quantity=quantity, created=start))
        session.add(sub)
        session.commit()
        return sub

    return make


@pytest.fixture
def jenny_pro(signed_in_customer, make_payment_method, subscribe, catalog):
    """The signed-in customer, with a card, on Pro monthly."""
    card = make_payment_method(signed_in_customer)
    return subscribe(signed_in_customer, catalog["pro_month"], default_payment_method_id=card.id)


@pytest.fixture
def events(session):
    """The audit events about subscriptions, oldest first."""
    def of(subscription_id=None):
        query = select(AuditEvent).where(AuditEvent.type.like("customer.subscription.%"))
        if subscription_id:
            query = query.where(AuditEvent.object_id == subscription_id)
        return session.scalars(query.order_by(AuditEvent.created, AuditEvent.id)).all()

    return of


def text_of(element) -> str:
    """What a customer reads in ``element``, whitespace collapsed."""
    return " ".join(element.get_text(" ").split()) if element is not None else ""


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")
