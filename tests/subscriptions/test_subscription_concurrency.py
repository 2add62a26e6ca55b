"""Two changes to one subscription sent at the same moment, from one page (two tabs, a double
click): each through the real views in its own thread and database session, released together
(tests/concurrency.py). One wins; the other is told the page is out of date; the subscription
is exactly what the winner asked for. On SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.events import AuditEvent
from portal.invoices.models import InvoiceItem
from portal.subscriptions.models import Subscription
from tests.concurrency import send_together, signed_in_token

STALE = "This subscription changed since you opened this page. Check it and try again."


@pytest.fixture
def token(customer, now):
    return signed_in_token(customer, now)


@pytest.fixture
def team(customer, make_payment_method, subscribe, catalog, allow_updates):
    card = make_payment_method(customer)
    allow_updates(subscription_update_proration_behavior="create_prorations")
    return subscribe(customer, catalog["team_month"], quantity=5,
                     default_payment_method_id=card.id)


def subscription_events(session, subscription_id):
    return session.scalars(select(AuditEvent).where(
        AuditEvent.object_id == subscription_id,
        AuditEvent.type.like("customer.subscription.%"))).all()


def assert_one_won(answers):
    assert all(a.status is not None and a.status < 500 for a in answers), [
        (a.status, a.text[:300]) for a in answers]
    statuses = sorted(a.status for a in answers)
    assert statuses == [200, 409], statuses
    loser = next(a for a in answers if a.status == 409)
    assert STALE in loser.page_text
    return answers.index(next(a for a in answers if a.status == 200))


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_two_quantity_changes_at_once_one_wins_and_the_other_is_told_to_reload(
        app, session, token, team, catalog, htmx):
    url = f"/p/subscriptions/{team.id}/change"
    posts = [(url, {"version": "1", "price": catalog["team_month"].id, "quantity": q})
             for q in ("8", "9")]
    answers = send_together(app, token, posts, htmx=htmx)
    if not htmx:  # a plain post answers 303 when it won
        answers = [a if a.status != 303 else type(a)(200, a.text) for a in answers]
    winner = assert_one_won(answers)
    fresh = session.get(Subscription, team.id)
    session.refresh(fresh)
    assert fresh.items[0].quantity == (8, 9)[winner]
    assert fresh.version == 2
    [event] = subscription_events(session, team.id)
    assert event.data["quantity"] == (8, 9)[winner]
    items = session.scalars(select(InvoiceItem).where(InvoiceItem.subscription_id == team.id)).all()
    assert len(items) == 2  # one credit and one charge: the loser added none


def test_a_cancel_and_a_plan_change_at_once_never_both_apply(app, session, token, team, catalog):
    base = f"/p/subscriptions/{team.id}"
    answers = send_together(app, token, [
        (f"{base}/cancel", {"version": "1", "reason": "too_expensive"}),
        (f"{base}/change", {"version": "1", "price": catalog["team_month"].id, "quantity": "8"}),
    ])
    winner = assert_one_won(answers)
    fresh = session.get(Subscription, team.id)
    session.refresh(fresh)
    if winner == 0:
        assert fresh.cancel_at_period_end and fresh.items[0].quantity == 5
    else:
        assert not fresh.cancel_at_period_end and fresh.items[0].quantity == 8
    assert fresh.version == 2 and len(subscription_events(session, team.id)) == 1


def test_the_same_retention_offer_accepted_twice_at_once_applies_once(app, session, token, team,
                                                                    configure, coupon):
    configure(retention_coupon_id=coupon.id)
    url = f"/p/subscriptions/{team.id}/retention-offer"
    answers = send_together(app, token, [(url, {"version": "1", "offer": "coupon"})] * 2)
    assert_one_won(answers)
    fresh = session.get(Subscription, team.id)
    session.refresh(fresh)
    assert fresh.discount_coupon_id == coupon.id and fresh.version == 2
    assert len(subscription_events(session, team.id)) == 1
