"""The issue's walk-through on the demo data: Jenny adds a card, makes it default, removes the old."""

from __future__ import annotations

from sqlalchemy import select

from portal.customers.models import Customer
from portal.demo import JENNY, seed_demo
from portal.subscriptions.models import LIVE_STATUSES, Subscription
from tests.payments.cards import mm_yy


def test_jenny_replaces_her_card_without_javascript(client_request, session, sign_in, now):
    seed_demo(session, now=now)
    session.commit()
    jenny = session.scalars(select(Customer).where(Customer.email == JENNY)).first()
    sign_in(jenny)
    old = jenny.default_payment_method

    # Her only card pays her subscription: it cannot go yet.
    page = client_request.get("payments.payment_methods")
    assert "Add another card before removing this one" in page.select_one(f"#pm-{old.id}").text

    client_request.post_response("payments.add_payment_method", _data={
        "name": "Jenny Rosen", "number": "5555 5555 5555 4444", "expiry": mm_yy(now, 36),
        "cvc": "314"})
    session.expire_all()
    new = next(m for m in client_request.get("payments.payment_methods").select("li strong")
               if m.text == "Mastercard ending in 4444")
    new_id = new.find_parent("li")["id"].removeprefix("pm-")

    client_request.post_response("payments.make_default_payment_method", payment_method_id=new_id)
    client_request.post_response("payments.remove_payment_method", payment_method_id=old.id)

    session.expire_all()
    assert jenny.default_payment_method_id == new_id
    live = session.scalars(select(Subscription).where(Subscription.customer_id == jenny.id,
                                                      Subscription.status.in_(LIVE_STATUSES),
                                                      Subscription.collection_method
                                                      == "charge_automatically")).all()
    assert live and {s.default_payment_method_id for s in live} == {new_id}
    page = client_request.get("payments.payment_methods")
    assert [s.text for s in page.select("li.payment-method strong")] == ["Mastercard ending in 4444"]
