"""Public identifiers are random and prefixed like Stripe's, never sequential."""

from __future__ import annotations

import re

from portal.ids import new_id


def test_new_id_has_the_prefix_and_24_random_letters_and_digits():
    assert re.fullmatch(r"cus_[A-Za-z0-9]{24}", new_id("cus"))


def test_ids_are_unguessable_not_sequential():
    ids = [new_id("in") for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids != sorted(ids)
    # Every position varies: nothing like a counter hides in a fixed part.
    for position in range(3, 27):
        assert len({i[position] for i in ids}) > 30


def test_every_billing_object_gets_its_stripe_style_prefix(
        make_customer, make_price, make_payment_method, make_subscription, make_invoice):
    customer = make_customer()
    price = make_price()
    card = make_payment_method(customer)
    subscription = make_subscription(customer, price=price)
    invoice = make_invoice(customer, subscription=subscription)
    for obj, prefix in [(customer, "cus"), (price.product, "prod"), (price, "price"),
                        (subscription, "sub"), (invoice, "in"), (card, "pm")]:
        assert re.fullmatch(prefix + r"_[A-Za-z0-9]{24}", obj.id), (prefix, obj.id)


def test_two_customers_made_one_after_the_other_have_unrelated_ids(make_customer):
    first = make_customer(email="a@example.com")
    second = make_customer(email="b@example.com")
    assert first.id != second.id
    shared = len(_common_prefix(first.id, second.id))
    assert shared < 10  # "cus_" plus, by chance, a few characters at most


def _common_prefix(a: str, b: str) -> str:
    out = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        out.append(x)
    return "".join(out)
