"""Adding, choosing and removing cards from many requests at once: the rules still hold.

Each request runs in its own thread, test client and database session through the real views
(tests/concurrency.py), released together by a barrier, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.customers.models import Customer
from portal.events import AuditEvent
from portal.payments import operations
from portal.payments.gateway import CardDetails, get_gateway
from portal.payments.models import PaymentMethod
from portal.subscriptions.models import Subscription
from tests.concurrency import send_together, signed_in_token

LAST_CARD = "Add another card before removing this one"


@pytest.fixture
def token(customer, now):
    return signed_in_token(customer, now)


@pytest.fixture
def cards(customer, make_payment_method, now):
    """A default Visa, then a Mastercard and the newest, an Amex."""
    return [
        make_payment_method(customer, created=now - timedelta(days=90)),
        make_payment_method(customer, number="5555555555554444", default=False,
                            created=now - timedelta(days=60)),
        make_payment_method(customer, number="378282246310005", default=False,
                            created=now - timedelta(days=30)),
    ]


@pytest.fixture
def subscription(customer, cards, make_subscription):
    """Paid automatically with the default card, so the customer must keep a card."""
    return make_subscription(customer, default_payment_method_id=cards[0].id)


def _live_cards(session, customer) -> list[PaymentMethod]:
    return list(session.scalars(select(PaymentMethod).where(
        PaymentMethod.customer_id == customer.id, PaymentMethod.detached_at.is_(None))))


def _events(session, event_type: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.type == event_type)))


def _assert_no_errors(answers):
    assert all(a.status is not None and a.status < 500 for a in answers), [
        (a.status, a.text[:300]) for a in answers if a.status is None or a.status >= 500]


# ---- removing -------------------------------------------------------------------------------

def test_removing_every_card_at_once_leaves_one_to_pay_the_subscription(
        app, session, client_request, customer, cards, subscription, token):
    posts = [(client_request.url("payments.remove_payment_method", payment_method_id=card.id),
              {}) for card in cards for _ in range(4)]
    answers = send_together(app, token, posts)

    _assert_no_errors(answers)
    left = _live_cards(session, customer)
    assert len(left) == 1, "the customer was left without a card for an automatic payment"
    # The card that is left pays for everything: it is the default, and the subscription's.
    assert session.get(Customer, customer.id).default_payment_method_id == left[0].id
    assert session.get(Subscription, subscription.id).default_payment_method_id == left[0].id
    assert len(_events(session, "payment_method.detached")) == 2
    statuses = Counter(a.status for a in answers)
    assert set(statuses) <= {200, 404, 409}, statuses
    refused = [a for a in answers if a.status == 409]
    assert refused and all(LAST_CARD in a.page_text for a in refused)
    removed = [a for a in answers if a.status == 200]
    assert removed and all("has been removed" in a.page_text for a in removed)


def test_removing_the_default_card_from_many_tabs_at_once_removes_it_once(
        app, session, client_request, customer, cards, subscription, token):
    visa = cards[0]
    url = client_request.url("payments.remove_payment_method", payment_method_id=visa.id)
    answers = send_together(app, token, [(url, {})] * 11)

    _assert_no_errors(answers)
    # The tabs that reached the card say it is gone; later ones no longer find it.
    assert {a.status for a in answers} <= {200, 404}, [a.status for a in answers]
    assert all("Visa ending in 4242 has been removed" in a.page_text
               for a in answers if a.status == 200)
    assert len(_events(session, "payment_method.detached")) == 1
    left = _live_cards(session, customer)
    assert sorted(card.card_last4 for card in left) == ["0005", "4444"]
    # The newest remaining card became the default, once.
    assert session.get(Customer, customer.id).default_payment_method_id == cards[2].id
    assert len([e for e in _events(session, "customer.updated")
                if "invoice_settings" in e.data]) == 1


def test_a_card_removed_while_it_is_made_the_default_does_not_stay_the_default(
        app, session, client_request, customer, cards, subscription, token):
    mastercard = cards[1]
    remove = client_request.url("payments.remove_payment_method", payment_method_id=mastercard.id)
    make_default = client_request.url("payments.make_default_payment_method",
                                      payment_method_id=mastercard.id)
    answers = send_together(app, token, [(remove, {}), (make_default, {})] * 4)

    _assert_no_errors(answers)
    assert mastercard.id not in {c.id for c in _live_cards(session, customer)}
    live = {c.id for c in _live_cards(session, customer)}
    # Whatever order they ran in, nothing points at the removed card.
    assert session.get(Customer, customer.id).default_payment_method_id in live
    assert session.get(Subscription, subscription.id).default_payment_method_id in live


# ---- adding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make_default", [False, True], ids=["kept-as-is", "made-default"])
def test_adding_one_card_from_many_tabs_at_once_saves_it_once(
        app, session, client_request, customer, token, card_form, make_default):
    data = card_form(make_default="y") if make_default else card_form()
    answers = send_together(app, token, [(client_request.url("payments.add_payment_method"),
                                          data)] * 6)

    _assert_no_errors(answers)
    assert [a.status for a in answers] == [200] * 6
    saved = _live_cards(session, customer)
    assert [card.card_last4 for card in saved] == ["4242"]
    texts = [a.page_text for a in answers]
    assert sum("Visa ending in 4242 has been added" in t for t in texts) == 1
    assert sum("Visa ending in 4242 was already saved" in t for t in texts) == 5
    assert len(_events(session, "payment_method.attached")) == 1
    if make_default:
        assert session.get(Customer, customer.id).default_payment_method_id == saved[0].id


# ---- the unique index behind the lock -------------------------------------------------------

def test_a_duplicate_card_that_slips_past_the_check_is_answered_as_already_saved(
        session, customer, now, monkeypatch):
    """Where something wrote without the lock, the unique index on live cards is the last
    guard: the second insert fails, and the customer is told the card was already saved."""
    gateway = get_gateway()
    details = CardDetails("4242424242424242", 12, now.year + 3, "123", name="Jenny Rosen")
    first = operations.attach_card(session, customer, details, make_default=True, now=now,
                                   actor="test", gateway=gateway)
    session.commit()
    # This request looks for the card before the first one is visible...
    monkeypatch.setattr(operations, "_saved_card_like", _once(None, operations._saved_card_like))

    again = operations.attach_card(session, customer, details, make_default=False, now=now,
                                   actor="test", gateway=gateway)
    session.commit()
    assert again.already_saved
    assert again.payment_method.id == first.payment_method.id
    assert [c.id for c in _live_cards(session, customer)] == [first.payment_method.id]
    assert len(_events(session, "payment_method.attached")) == 1


def test_the_same_card_may_be_added_again_after_it_was_removed(
        session, customer, now):
    gateway = get_gateway()
    details = CardDetails("4242424242424242", 12, now.year + 3, "123")
    first = operations.attach_card(session, customer, details, make_default=False, now=now,
                                   actor="test", gateway=gateway).payment_method
    operations.detach_payment_method(session, customer, first, now=now, actor="test",
                                     gateway=gateway)
    session.commit()

    again = operations.attach_card(session, customer, details, make_default=False, now=now,
                                   actor="test", gateway=gateway)
    session.commit()
    assert not again.already_saved and again.payment_method.id != first.id
    assert [c.id for c in _live_cards(session, customer)] == [again.payment_method.id]


def _once(first_answer, then):
    calls = []

    def wrapped(*args):
        calls.append(1)
        return first_answer if len(calls) == 1 else then(*args)

    return wrapped
