"""Money adds up, whatever happens: the engine driven over random months of renewals, cards
that work or decline, retries, pending items, balance credits, coupons, tax and customers
paying in the portal. Every invoice's lines add up to its totals, and what the customer was
charged, still owes and was credited balances what was invoiced, to the minor unit."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal.billing import engine
from portal.billing.calc import add_months
from portal.billing.invoicing import credit_balance
from portal.billing.policy import BillingPolicy
from portal.catalog.models import Coupon, Price, Product, TaxRate
from portal.customers.models import Customer, CustomerBalanceTransaction
from portal.invoices import operations
from portal.invoices.models import Invoice, InvoiceItem
from portal.locking import lock_customer
from portal.payments.gateway import CardDetails, TestGateway, get_gateway
from portal.payments.models import Payment, PaymentMethod
from portal.subscriptions.models import Subscription, SubscriptionItem
from tests.billing.helpers import DECLINED, JAN_1
from tests.conftest import _empty_tables
from tests.invoices.counting_gateway import CountingGateway

month = st.fixed_dictionaries({
    "card_works": st.booleans(),
    "credit": st.sampled_from([0, 0, 1, 500, 4999]),  # credit granted before the renewal
    "item": st.sampled_from([0, 0, -700, 1234, -99_999]),  # a pending proration or charge
    "pay_in_portal": st.booleans(),  # the customer pays what is open, mid-month
})
scenario = st.fixed_dictionaries({
    "unit_amount": st.integers(min_value=1, max_value=99_999),
    "quantity": st.integers(min_value=1, max_value=4),
    "coupon": st.one_of(st.none(), st.tuples(
        st.sampled_from([("percent", Decimal("15")), ("percent", Decimal("33.33")),
                         ("amount", 500)]),
        st.sampled_from(["once", "repeating", "forever"]))),
    "tax": st.one_of(st.none(), st.tuples(st.sampled_from([Decimal("20"), Decimal("8.875")]),
                                          st.booleans())),
    "retry_days": st.sampled_from([(), (3,), (3, 5, 7)]),
    "after_final_failure": st.sampled_from(["canceled", "unpaid"]),
    "months": st.lists(month, min_size=1, max_size=5),
})


def _card(session, customer, number):
    token = TestGateway().tokenize_card(CardDetails(number, 12, JAN_1.year + 5, "123"),
                                        now=JAN_1)
    method = PaymentMethod(customer_id=customer.id, type="card", card_brand=token.brand,
                           card_last4=token.last4, card_exp_month=12,
                           card_exp_year=JAN_1.year + 5, fingerprint=token.fingerprint,
                           processor="test", processor_token=token.token, created=JAN_1,
                           metadata_={})
    session.add(method)
    session.flush()
    return method


def _set_up(session, plan):
    customer = Customer(name="Jenny Rosen", created=JAN_1, preferred_locales=[], metadata_={},
                        address_country="PT" if plan["tax"] else None)
    customer.set_email("jenny.rosen@example.com")
    session.add(customer)
    session.flush()
    works, declines = _card(session, customer, "4242424242424242"), _card(session, customer,
                                                                         DECLINED)
    price = Price(product=Product(name="Pro", active=True, created=JAN_1, metadata_={}),
                  unit_amount=plan["unit_amount"], currency="usd", recurring_interval="month",
                  recurring_interval_count=1, active=True, created=JAN_1, metadata_={})
    sub = Subscription(customer_id=customer.id, status="active", currency="usd",
                       current_period_start=JAN_1, current_period_end=add_months(JAN_1, 1),
                       billing_cycle_anchor=JAN_1, created=JAN_1, metadata_={})
    sub.items.append(SubscriptionItem(price=price, quantity=plan["quantity"], created=JAN_1))
    if plan["coupon"]:
        (kind, value), duration = plan["coupon"]
        sub.discount_coupon = Coupon(
            name="Offer", percent_off=value if kind == "percent" else None,
            amount_off=value if kind == "amount" else None,
            currency="usd" if kind == "amount" else None, duration=duration,
            duration_in_months=2 if duration == "repeating" else None, created=JAN_1,
            metadata_={})
        sub.discount_start = JAN_1
    if plan["tax"]:
        percentage, inclusive = plan["tax"]
        session.add(TaxRate(display_name="VAT", percentage=percentage, inclusive=inclusive,
                            country="PT", active=True, created=JAN_1, metadata_={}))
    session.add(sub)
    session.commit()
    return customer.id, sub.id, works.id, declines.id


def _live_through(session, plan, ids):
    customer_id, sub_id, works_id, declines_id = ids
    policy = BillingPolicy(retry_days=plan["retry_days"],
                           after_final_failure=plan["after_final_failure"])
    for index, this in enumerate(plan["months"]):
        boundary = add_months(JAN_1, index + 1)
        customer = lock_customer(session, session.get(Customer, customer_id))
        if this["credit"]:
            credit_balance(session, customer, -this["credit"], "usd", now=boundary,
                           description="Goodwill credit", creation_key=f"test:credit:{index}")
        if this["item"]:
            session.add(InvoiceItem(customer_id=customer_id, subscription_id=sub_id,
                                    description="Change of plan", amount=this["item"],
                                    currency="usd", proration=True, created=boundary,
                                    creation_key=f"test:item:{index}"))
        customer.default_payment_method_id = works_id if this["card_works"] else declines_id
        session.commit()
        for days in (0, 3, 5, 7):  # the renewal, then every retry the schedules name
            engine.run(session, now=boundary + timedelta(days=days), gateway=get_gateway(),
                       policy=policy)
        if this["pay_in_portal"]:
            _pay_what_is_open(session, customer_id, works_id, boundary + timedelta(days=10))


def _pay_what_is_open(session, customer_id, works_id, at):
    for invoice in session.scalars(select(Invoice).where(Invoice.customer_id == customer_id,
                                                         Invoice.status == "open")).all():
        method = session.get(PaymentMethod, works_id)
        key = f"portal{invoice.id}".replace("_", "")[:40].ljust(16, "x")
        result = operations.pay_invoice(session, invoice, method, key, now=at,
                                        actor=f"customer:{customer_id}", gateway=get_gateway())
        assert result.status == "succeeded"


def _assert_the_money_adds_up(session, ids, plan):
    customer_id, sub_id, *_ = ids
    session.expire_all()
    invoices = session.scalars(select(Invoice).order_by(Invoice.period_start)).all()
    payments = session.scalars(select(Payment)).all()
    entries = session.scalars(select(CustomerBalanceTransaction)).all()
    customer = session.get(Customer, customer_id)
    inclusive = bool(plan["tax"] and plan["tax"][1])
    succeeded = Counter()
    for payment in payments:
        if payment.status == "succeeded":
            succeeded[payment.invoice_id] += payment.amount
    for invoice in invoices:
        lines = invoice.lines
        assert sum(line.amount for line in lines) == invoice.subtotal
        assert sum(line.discount_amount for line in lines) == invoice.total_discount
        assert sum(line.tax_amount for line in lines) == invoice.tax
        assert invoice.total == (invoice.subtotal - invoice.total_discount
                                 + (0 if inclusive else invoice.tax))
        assert invoice.amount_due == (invoice.total + invoice.starting_balance
                                      - invoice.ending_balance)
        assert invoice.amount_due >= 0 and invoice.ending_balance <= 0
        assert succeeded[invoice.id] == invoice.amount_paid
        if invoice.status == "paid":
            assert invoice.amount_paid == invoice.amount_due
        else:
            assert invoice.status == "open" and invoice.amount_paid == 0
    # Each invoice charged at most once; the processor asked once per attempt.
    assert all(
        n == 1 for n in Counter(p.invoice_id for p in payments if p.status == "succeeded")
        .values())
    keys = [call["idempotency_key"] for call in CountingGateway.calls]
    assert sorted(keys) == sorted(p.idempotency_key for p in payments)
    # One invoice per period, periods back to back from the first renewal.
    periods = [(i.period_start, i.period_end) for i in invoices]
    assert len(set(periods)) == len(periods)
    for (_, end), (start, _) in zip(periods, periods[1:], strict=False):
        assert end == start
    # The balance is the sum of its history.
    assert customer.balance == sum(entry.amount for entry in entries)
    granted = -sum(e.amount for e in entries if e.type == "credit")
    left = -customer.balance
    charged = sum(succeeded.values())
    owed = sum(i.amount_due - i.amount_paid for i in invoices if i.status == "open")
    invoiced = sum(i.total for i in invoices)
    assert charged + owed + granted == invoiced + left


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=scenario)
def test_whatever_happens_the_invoices_payments_and_credits_add_up(app, session, plan):
    session.rollback()
    _empty_tables()
    CountingGateway.reset()
    ids = _set_up(session, plan)
    _live_through(session, plan, ids)
    _assert_the_money_adds_up(session, ids, plan)
