"""The subscription rules, called directly with ``now`` fixed: cancelling, renewing, switching
price or quantity under each configuration, and that every change is applied once, as previewed,
with one event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.billing import invoicing
from portal.customers.models import CustomerBalanceTransaction
from portal.events import customer_actor
from portal.invoices.models import Invoice, InvoiceItem
from portal.outbox.models import OutboxMessage
from portal.payments.gateway import TestGateway
from portal.subscriptions import operations as ops
from portal.subscriptions.models import SubscriptionItem

DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)
JAN_1 = datetime(2027, 1, 1, tzinfo=UTC)
# Half-way through December (31 days): 15.5 days used, 15.5 left, to the second.
MID_DEC = datetime(2026, 12, 16, 12, tzinfo=UTC)
DECLINED = "4000000000000002"


@pytest.fixture
def gateway():
    return TestGateway()


@pytest.fixture
def jenny(customer, make_payment_method):
    make_payment_method(customer)
    return customer


@pytest.fixture
def pro(jenny, subscribe, catalog):
    """Pro monthly for December 2026."""
    return subscribe(jenny, catalog["pro_month"], start=DEC_1,
                     default_payment_method_id=jenny.default_payment_method_id)


def actor(subscription):
    return customer_actor(subscription.customer_id)


def change(session, subscription, configuration, gateway, price=None, quantity=None,
           at=MID_DEC, **kwargs):
    return ops.change_subscription(
        session, subscription, price_id=price.id if price is not None else None,
        quantity=quantity, expected_version=subscription.version, now=at,
        actor=actor(subscription), configuration=configuration, gateway=gateway, **kwargs)


def pending(session, subscription):
    return invoicing.pending_items(session, subscription.id)


def same_invoice(preview, actual):
    """Two drafts that would print the same invoice (line order aside)."""
    assert (preview is None) == (actual is None)
    if preview is None:
        return True

    def key(draft):
        return (draft.subtotal, draft.total_discount, draft.tax, draft.total, draft.amount_due,
                draft.starting_balance, draft.ending_balance, draft.period_start,
                draft.period_end,
                sorted((line.description, line.amount, line.proration) for line in draft.lines))

    return key(preview) == key(actual)


# ---- cancelling --------------------------------------------------------------------------------

def test_cancelling_at_the_period_end_keeps_it_until_then_with_the_reason_and_comment(
        session, pro, configure, events):
    configuration = configure(subscription_cancel_mode="at_period_end")
    ops.cancel_subscription(session, pro, expected_version=1, now=MID_DEC, actor=actor(pro),
                            configuration=configuration, feedback="too_expensive",
                            comment="  Too dear for a team of two  ")
    session.commit()
    assert (pro.status, pro.cancel_at_period_end, pro.cancel_at) == ("active", True, JAN_1)
    assert pro.canceled_at == MID_DEC and pro.ended_at is None
    assert (pro.cancellation_reason, pro.cancellation_feedback, pro.cancellation_comment) == (
        "cancellation_requested", "too_expensive", "Too dear for a team of two")
    assert (pro.version, pro.updated) == (2, MID_DEC)
    [event] = events(pro.id)
    assert (event.type, event.actor, event.data["action"]) == (
        "customer.subscription.updated", f"customer:{pro.customer_id}", "cancel_at_period_end")
    assert invoicing.upcoming_invoice(session, pro, MID_DEC) is None


def test_cancelling_now_without_proration_ends_it_and_credits_nothing(session, pro, configure,
                                                                     events):
    configuration = configure(subscription_cancel_mode="immediately",
                              subscription_cancel_proration_behavior="none")
    plan = ops.cancel_subscription(session, pro, expected_version=1, now=MID_DEC,
                                   actor=actor(pro), configuration=configuration)
    session.commit()
    assert plan.credit_amount == 0
    assert (pro.status, pro.ended_at, pro.canceled_at) == ("canceled", MID_DEC, MID_DEC)
    assert pro.customer.balance == 0
    assert [e.type for e in events(pro.id)] == ["customer.subscription.deleted"]


def test_cancelling_now_with_prorations_credits_the_unused_time_by_the_second(session, pro,
                                                                             configure):
    configuration = configure(subscription_cancel_mode="immediately",
                              subscription_cancel_proration_behavior="create_prorations")
    plan = ops.cancel_subscription(session, pro, expected_version=1, now=MID_DEC,
                                   actor=actor(pro), configuration=configuration)
    session.commit()
    assert plan.credit_amount == 1450  # 15.5 of 31 days of $29.00
    assert pro.customer.balance == -1450
    [entry] = session.scalars(select(CustomerBalanceTransaction)).all()
    assert (entry.amount, entry.type, entry.creation_key) == (
        -1450, "credit", f"{pro.id}:cancel:unused-time")


def test_the_unused_time_credit_is_worked_to_the_second_not_the_day(session, pro, configure):
    configuration = configure(subscription_cancel_mode="immediately",
                              subscription_cancel_proration_behavior="create_prorations")
    one_second_later = MID_DEC + timedelta(seconds=1)
    plan = ops.plan_cancel(session, pro, now=one_second_later, configuration=configuration)
    # 1,339,199 of 2,678,400 seconds of 2,900 cents = 1,449.9989... cents.
    assert plan.credit_amount == 1450
    plan = ops.plan_cancel(session, pro, now=JAN_1 - timedelta(hours=6),
                           configuration=configuration)
    assert plan.credit_amount == round(2900 * 6 / (31 * 24))  # 23.38... -> 23


def test_the_unused_time_credit_has_the_discount_the_period_was_billed_with(session, pro,
                                                                           configure, coupon):
    pro.discount_coupon, pro.discount_start = coupon, DEC_1 - timedelta(days=30)
    pro.discount_end = DEC_1 + timedelta(days=60)
    session.commit()
    configuration = configure(subscription_cancel_mode="immediately",
                              subscription_cancel_proration_behavior="create_prorations")
    plan = ops.cancel_subscription(session, pro, expected_version=1, now=MID_DEC,
                                   actor=actor(pro), configuration=configuration)
    assert plan.credit_amount == 725


def test_a_trial_cancelled_now_is_credited_nothing(session, jenny, subscribe, catalog, configure):
    trial = subscribe(jenny, catalog["pro_month"], start=DEC_1, status="trialing",
                      trial_start=DEC_1, trial_end=JAN_1)
    configuration = configure(subscription_cancel_mode="immediately",
                              subscription_cancel_proration_behavior="create_prorations")
    plan = ops.cancel_subscription(session, trial, expected_version=1, now=MID_DEC,
                                   actor=actor(trial), configuration=configuration)
    assert plan.credit_amount == 0 and jenny.balance == 0


def test_a_cancel_sent_again_credits_once_and_changes_nothing_more(session, pro, configure,
                                                                  events):
    configuration = configure(subscription_cancel_mode="immediately",
                              subscription_cancel_proration_behavior="create_prorations")
    ops.cancel_subscription(session, pro, expected_version=1, now=MID_DEC, actor=actor(pro),
                            configuration=configuration)
    session.commit()
    for version in (1, 2):  # the same form again, and one drawn after the cancel
        with pytest.raises(ops.SubscriptionRefused):
            ops.cancel_subscription(session, pro, expected_version=version,
                                    now=MID_DEC + timedelta(minutes=1), actor=actor(pro),
                                    configuration=configuration)
        session.rollback()
    assert pro.customer.balance == -1450
    assert len(session.scalars(select(CustomerBalanceTransaction)).all()) == 1
    assert len(events(pro.id)) == 1


def test_the_credit_is_keyed_so_adding_it_twice_adds_it_once(session, pro):
    for _ in range(2):
        invoicing.credit_balance(session, pro.customer, -1450, "usd", now=MID_DEC,
                                 description="Unused time",
                                 creation_key=f"{pro.id}:cancel:unused-time")
    assert pro.customer.balance == -1450


def test_a_reason_the_merchant_does_not_ask_about_is_refused(session, pro, configure):
    configuration = configure(cancellation_reason_options=["too_expensive", "unused"])
    with pytest.raises(ops.SubscriptionRefused) as refused:
        ops.cancel_subscription(session, pro, expected_version=1, now=MID_DEC,
                                actor=actor(pro), configuration=configuration,
                                feedback="low_quality")
    assert refused.value.field == "reason"


def test_cancelling_is_refused_when_the_merchant_switched_it_off(session, pro, configure):
    configuration = configure(subscription_cancel_enabled=False)
    with pytest.raises(ops.SubscriptionRefused, match="not available"):
        ops.cancel_subscription(session, pro, expected_version=1, now=MID_DEC,
                                actor=actor(pro), configuration=configuration)


def test_a_stale_version_cancels_nothing(session, pro, configure, events):
    configuration = configure()
    with pytest.raises(ops.StaleSubscription) as stale:
        ops.cancel_subscription(session, pro, expected_version=0, now=MID_DEC,
                                actor=actor(pro), configuration=configuration)
    assert stale.value.message == ("This subscription changed since you opened this page. "
                                   "Check it and try again.")
    session.rollback()
    assert not pro.cancel_at_period_end and pro.version == 1 and events() == []


def test_cancelling_queues_one_confirmation_email_in_the_same_transaction(session, pro,
                                                                         configure):
    ops.cancel_subscription(session, pro, expected_version=1, now=MID_DEC, actor=actor(pro),
                            configuration=configure())
    session.commit()
    [message] = session.scalars(select(OutboxMessage)).all()
    assert message.payload["template"] == "subscription_canceled"
    assert message.payload["to"] == pro.customer.email
    assert message.payload["context"]["ends_on"] == "Jan 1, 2027"


# ---- renewing --------------------------------------------------------------------------------

def test_renewing_before_the_period_end_keeps_the_subscription(session, pro, configure, events):
    configuration = configure()
    ops.cancel_subscription(session, pro, expected_version=1, now=MID_DEC, actor=actor(pro),
                            configuration=configuration, feedback="unused")
    ops.renew_subscription(session, pro, expected_version=2, now=MID_DEC + timedelta(days=1),
                           actor=actor(pro), configuration=configuration)
    session.commit()
    assert not pro.cancel_at_period_end and pro.canceled_at is None and pro.cancel_at is None
    assert pro.cancellation_feedback is None and pro.version == 3
    assert [e.data["action"] for e in events(pro.id)] == ["cancel_at_period_end", "renewed"]
    assert invoicing.upcoming_invoice(session, pro, MID_DEC).amount_due == 2900


def test_renewing_after_the_period_end_is_refused_with_a_clear_message(session, pro, configure):
    configuration = configure()
    ops.cancel_subscription(session, pro, expected_version=1, now=MID_DEC, actor=actor(pro),
                            configuration=configuration)
    with pytest.raises(ops.SubscriptionRefused) as refused:
        ops.renew_subscription(session, pro, expected_version=2, now=JAN_1, actor=actor(pro),
                               configuration=configuration)
    assert refused.value.message == ("This subscription ended on Jan 1, 2027, so it can no "
                                     "longer be renewed.")


def test_a_subscription_that_is_not_ending_has_nothing_to_renew(session, pro, configure):
    with pytest.raises(ops.SubscriptionRefused, match="nothing to renew"):
        ops.renew_subscription(session, pro, expected_version=1, now=MID_DEC, actor=actor(pro),
                               configuration=configure())


# ---- what may change --------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "reason"), [
    ("update disabled", "Changing plans is not available here."),
    ("several items", "This subscription has several items, so its plan cannot be changed here."),
    ("product not listed", "Your Pro plan cannot be switched here."),
    ("canceled", "This subscription has ended, so its plan cannot be changed."),
    ("ending", "This subscription ends on Jan 1, 2027. Renew it first if you want to change your plan."),
    ("past due", "A payment for this subscription is overdue. Pay the open invoice first, then you can change your plan."),
])
def test_the_options_say_plainly_why_a_plan_cannot_change(session, pro, allow_updates, catalog,
                                                           case, reason):
    configuration = allow_updates()
    if case == "update disabled":
        configuration.subscription_update_enabled = False
    elif case == "several items":
        pro.items.append(SubscriptionItem(price=catalog["team_month"], quantity=2, created=DEC_1))
    elif case == "product not listed":
        configuration.subscription_update_products = configuration.subscription_update_products[2:]
    elif case == "canceled":
        pro.status, pro.ended_at = "canceled", DEC_1
    elif case == "ending":
        pro.cancel_at_period_end = True
    else:
        pro.status = "past_due"
    session.commit()
    options = ops.update_options(session, pro, now=MID_DEC, configuration=configuration)
    assert options.reason == reason and not options.allowed


def test_the_options_list_only_active_prices_in_the_subscriptions_currency(session, pro,
                                                                          allow_updates, catalog):
    configuration = allow_updates()
    configuration.subscription_update_products[1]["prices"].append(catalog["pro_month_eur"].id)
    catalog["starter_month"].active = False
    session.commit()
    options = ops.update_options(session, pro, now=MID_DEC, configuration=configuration)
    assert [p.nickname for p in options.prices] == ["pro_month", "pro_year", "team_month"]
    assert options.quantity_range(catalog["team_month"]) == ops.QuantityRange(1, 50)
    assert options.quantity_range(catalog["pro_month"]) is None


@pytest.mark.parametrize(("quantity", "message"), [
    (0, "Enter a quantity of at least 1"), (51, "Enter a quantity of at most 50"),
    (10 ** 12, "Enter a quantity of at most 50")])
def test_a_quantity_outside_the_range_is_refused_on_the_quantity_field(session, pro,
                                                                       allow_updates, catalog,
                                                                       quantity, message):
    with pytest.raises(ops.SubscriptionRefused) as refused:
        ops.plan_change(session, pro, price_id=catalog["team_month"].id, quantity=quantity,
                        now=MID_DEC, configuration=allow_updates())
    assert (refused.value.field, refused.value.message) == ("quantity", message)


def test_a_price_that_is_not_offered_is_refused_on_the_price_field(session, pro, allow_updates,
                                                                   catalog):
    with pytest.raises(ops.SubscriptionRefused) as refused:
        ops.plan_change(session, pro, price_id=catalog["pro_month_eur"].id, quantity=None,
                        now=MID_DEC, configuration=allow_updates())
    assert (refused.value.field, refused.value.message) == ("price", "Choose one of the plans listed")


def test_the_current_plan_is_not_a_change(session, pro, allow_updates, catalog):
    with pytest.raises(ops.SubscriptionRefused, match="This is your current plan"):
        ops.plan_change(session, pro, price_id=catalog["pro_month"].id, quantity=None,
                        now=MID_DEC, configuration=allow_updates())


# ---- switching, by proration behaviour ---------------------------------------------------------

def test_an_upgrade_with_prorations_carries_a_credit_and_a_charge_by_the_second(
        session, pro, allow_updates, catalog, gateway, events):
    configuration = allow_updates(subscription_update_proration_behavior="create_prorations")
    preview = ops.plan_change(session, pro, price_id=catalog["team_month"].id, quantity=3,
                              now=MID_DEC, configuration=configuration)
    assert [(line.amount, line.proration) for line in preview.proration_lines] == [
        (-1450, True), (2250, True)]  # half of $29.00 back, half of 3 × $15.00 due
    assert preview.amount_due_today == 0 and preview.carries_prorations
    result = change(session, pro, configuration, gateway, catalog["team_month"], 3)
    session.commit()
    assert result.invoice is None
    assert [(i.price_id, i.quantity) for i in pro.items] == [(catalog["team_month"].id, 3)]
    items = pending(session, pro)
    assert [(i.amount, i.proration, i.creation_key) for i in items] == [
        (-1450, True, f"{pro.id}:v1:proration:0"), (2250, True, f"{pro.id}:v1:proration:1")]
    upcoming = invoicing.upcoming_invoice(session, pro, MID_DEC)
    assert upcoming.amount_due == -1450 + 2250 + 4500
    assert same_invoice(result.plan.next_invoice, upcoming)
    [event] = events(pro.id)
    assert (event.data["action"], event.data["price"], event.data["quantity"]) == (
        "plan_changed", catalog["team_month"].id, 3)


def test_prorations_are_added_once_per_change_however_often_they_are_written(session, pro,
                                                                            allow_updates,
                                                                            catalog, gateway):
    configuration = allow_updates(subscription_update_proration_behavior="create_prorations")
    result = change(session, pro, configuration, gateway, catalog["team_month"], 3)
    for position, line in enumerate(result.plan.proration_lines):
        ops._add_pending_item(session, pro, line, key=f"{pro.id}:v1:proration:{position}",
                              created=MID_DEC)
    session.commit()
    assert len(session.scalars(select(InvoiceItem)).all()) == 2


def test_without_proration_the_new_price_waits_for_the_next_invoice(session, pro, allow_updates,
                                                                   catalog, gateway):
    configuration = allow_updates(subscription_update_proration_behavior="none")
    result = change(session, pro, configuration, gateway, catalog["team_month"], 3)
    session.commit()
    assert result.plan.proration_lines == () and pending(session, pro) == []
    upcoming = invoicing.upcoming_invoice(session, pro, MID_DEC)
    assert upcoming.amount_due == 4500 and same_invoice(result.plan.next_invoice, upcoming)


def test_always_invoice_writes_the_difference_now_and_charges_the_card(session, pro,
                                                                      allow_updates, catalog,
                                                                      gateway):
    configuration = allow_updates(subscription_update_proration_behavior="always_invoice")
    result = change(session, pro, configuration, gateway, catalog["team_month"], 3)
    session.commit()
    invoice = result.invoice
    assert (invoice.billing_reason, invoice.total, invoice.status) == (
        "subscription_update", 800, "paid")
    assert invoice.creation_key == f"{pro.id}:update:v1"
    assert result.charged == 800 and pro.status == "active"
    assert [line.amount for line in invoice.lines] == [-1450, 2250]
    assert pending(session, pro) == []
    upcoming = invoicing.upcoming_invoice(session, pro, MID_DEC)
    assert upcoming.amount_due == 4500 and same_invoice(result.plan.next_invoice, upcoming)


def test_always_invoice_takes_the_pending_items_onto_the_invoice_it_writes(session, pro,
                                                                          allow_updates,
                                                                          catalog, gateway):
    change(session, pro, allow_updates(), gateway, catalog["team_month"], 3)  # 2 pending items
    session.commit()
    configuration = allow_updates(subscription_update_proration_behavior="always_invoice")
    later = MID_DEC + timedelta(days=5)
    result = change(session, pro, configuration, gateway, catalog["team_month"], 5, at=later)
    session.commit()
    assert len(result.invoice.lines) == 4 and pending(session, pro) == []
    assert result.invoice.total == sum(line.amount for line in result.invoice.lines)


def test_always_invoice_with_a_declined_card_keeps_the_change_and_the_invoice_open(
        session, customer, make_payment_method, subscribe, allow_updates, catalog, gateway,
        events):
    card = make_payment_method(customer, number=DECLINED)
    sub = subscribe(customer, catalog["pro_month"], start=DEC_1, default_payment_method_id=card.id)
    configuration = allow_updates(subscription_update_proration_behavior="always_invoice")
    result = change(session, sub, configuration, gateway, catalog["team_month"], 3)
    session.commit()
    session.expire_all()
    assert result.decline_message == "Your card was declined. Try another card or contact your bank."
    assert [(i.price_id, i.quantity) for i in sub.items] == [(catalog["team_month"].id, 3)]
    assert (result.invoice.status, result.invoice.amount_due, result.invoice.amount_paid) == (
        "open", 800, 0)
    assert sub.status == "past_due" and sub.version == 3
    assert [e.data["action"] for e in events(sub.id)] == ["plan_changed"]


def test_a_change_paid_now_is_refused_without_a_card(session, customer, subscribe, catalog,
                                                     allow_updates, gateway):
    sub = subscribe(customer, catalog["pro_month"], start=DEC_1)
    configuration = allow_updates(subscription_update_proration_behavior="always_invoice")
    with pytest.raises(ops.SubscriptionRefused, match="no card we can charge"):
        change(session, sub, configuration, gateway, catalog["team_month"], 3)
    session.rollback()
    assert sub.items[0].price_id == catalog["pro_month"].id
    assert session.scalars(select(Invoice)).all() == []


# ---- downgrades that wait, intervals, trials ---------------------------------------------------

def test_a_cheaper_plan_waits_for_the_period_end_and_shows_on_the_next_invoice(
        session, pro, allow_updates, catalog, gateway, events):
    configuration = allow_updates(schedule_at_period_end_conditions=["decreasing_item_amount"])
    result = change(session, pro, configuration, gateway, catalog["starter_month"])
    session.commit()
    assert result.plan.timing == "period_end" and result.plan.effective_at == JAN_1
    assert pro.items[0].price_id == catalog["pro_month"].id  # nothing changes yet
    assert pro.pending_update["price"] == catalog["starter_month"].id
    assert pro.pending_update["quantity"] == 1 and pending(session, pro) == []
    upcoming = invoicing.upcoming_invoice(session, pro, MID_DEC)
    assert upcoming.amount_due == 900 and same_invoice(result.plan.next_invoice, upcoming)
    assert events(pro.id)[-1].data["action"] == "plan_change_scheduled"


def test_fewer_seats_wait_for_the_period_end_too(session, jenny, subscribe, catalog,
                                                 allow_updates, gateway):
    team = subscribe(jenny, catalog["team_month"], quantity=5, start=DEC_1)
    result = change(session, team, allow_updates(), gateway, quantity=2)
    assert result.plan.timing == "period_end" and team.items[0].quantity == 5
    assert team.pending_update["quantity"] == 2


def test_without_the_condition_a_cheaper_plan_applies_now_with_a_net_credit(
        session, pro, allow_updates, catalog, gateway):
    configuration = allow_updates(schedule_at_period_end_conditions=[])
    result = change(session, pro, configuration, gateway, catalog["starter_month"])
    session.commit()
    assert result.plan.timing == "now" and pro.items[0].price_id == catalog["starter_month"].id
    assert sum(i.amount for i in pending(session, pro)) == -1450 + 450


def test_a_shorter_interval_waits_for_the_period_end(session, jenny, subscribe, catalog,
                                                     allow_updates, gateway):
    yearly = subscribe(jenny, catalog["pro_year"], start=DEC_1)
    configuration = allow_updates(schedule_at_period_end_conditions=["shortening_interval"])
    result = change(session, yearly, configuration, gateway, catalog["pro_month"])
    session.commit()
    assert result.plan.scheduled_because == "shortening_interval"
    upcoming = invoicing.upcoming_invoice(session, yearly, MID_DEC)
    assert (upcoming.period_start, upcoming.amount_due) == (datetime(2027, 12, 1, tzinfo=UTC), 2900)
    assert same_invoice(result.plan.next_invoice, upcoming)


def test_a_longer_interval_starts_a_new_period_now_and_invoices_it(session, pro, allow_updates,
                                                                  catalog, gateway):
    result = change(session, pro, allow_updates(), gateway, catalog["pro_year"])
    session.commit()
    assert (pro.current_period_start, pro.billing_cycle_anchor) == (MID_DEC, MID_DEC)
    assert pro.current_period_end == datetime(2027, 12, 16, 12, tzinfo=UTC)
    assert [line.amount for line in result.invoice.lines] == [-1450, 29000]
    assert result.invoice.status == "paid" and result.charged == 27550
    upcoming = invoicing.upcoming_invoice(session, pro, MID_DEC)
    assert upcoming.amount_due == 29000 and same_invoice(result.plan.next_invoice, upcoming)


@pytest.fixture
def trial(jenny, subscribe, catalog):
    return subscribe(jenny, catalog["pro_month"], start=DEC_1, status="trialing",
                     trial_start=DEC_1, trial_end=JAN_1,
                     default_payment_method_id=jenny.default_payment_method_id)


def test_a_change_during_a_trial_that_continues_it_costs_nothing_until_the_trial_ends(
        session, trial, allow_updates, catalog, gateway):
    configuration = allow_updates(trial_update_behavior="continue_trial")
    result = change(session, trial, configuration, gateway, catalog["team_month"], 2)
    session.commit()
    assert (trial.status, trial.trial_end, result.invoice) == ("trialing", JAN_1, None)
    assert pending(session, trial) == []
    upcoming = invoicing.upcoming_invoice(session, trial, MID_DEC)
    assert (upcoming.period_start, upcoming.amount_due) == (JAN_1, 3000)
    assert same_invoice(result.plan.next_invoice, upcoming)


def test_a_change_during_a_trial_that_ends_it_bills_the_first_period_now(session, trial,
                                                                        allow_updates, catalog,
                                                                        gateway):
    configuration = allow_updates(trial_update_behavior="end_trial")
    result = change(session, trial, configuration, gateway, catalog["starter_month"])
    session.commit()
    assert (trial.status, trial.trial_end, trial.current_period_start) == ("active", MID_DEC, MID_DEC)
    assert result.invoice.total == 900 and result.charged == 900
    upcoming = invoicing.upcoming_invoice(session, trial, MID_DEC)
    assert upcoming.period_start == datetime(2027, 1, 16, 12, tzinfo=UTC)
    assert same_invoice(result.plan.next_invoice, upcoming)


def test_a_previewed_proration_date_is_charged_as_previewed(session, pro, allow_updates, catalog,
                                                            gateway):
    configuration = allow_updates()
    preview = ops.plan_change(session, pro, price_id=catalog["team_month"].id, quantity=3,
                              now=MID_DEC, configuration=configuration)
    result = change(session, pro, configuration, gateway, catalog["team_month"], 3,
                    at=MID_DEC + timedelta(minutes=3), proration_date=preview.proration_date)
    assert [i.amount for i in result.plan.proration_lines] == [-1450, 2250]
    # An old or future date is not honoured: it would let a form choose its own prices.
    for previewed in (MID_DEC - timedelta(hours=2), MID_DEC + timedelta(hours=1)):
        assert ops._proration_date(pro, MID_DEC, previewed) == MID_DEC


def test_cancelling_a_scheduled_change_renews_as_it_is(session, pro, allow_updates, catalog,
                                                       gateway, events):
    configuration = allow_updates()
    change(session, pro, configuration, gateway, catalog["starter_month"])
    ops.cancel_scheduled_change(session, pro, expected_version=2,
                                now=MID_DEC + timedelta(minutes=1), actor=actor(pro),
                                configuration=configuration)
    session.commit()
    assert pro.pending_update is None and pro.version == 3
    assert invoicing.upcoming_invoice(session, pro, MID_DEC).amount_due == 2900
    assert events(pro.id)[-1].data["action"] == "scheduled_change_canceled"


def test_a_stale_version_switches_nothing(session, pro, allow_updates, catalog, gateway, events):
    with pytest.raises(ops.StaleSubscription):
        ops.change_subscription(session, pro, price_id=catalog["team_month"].id, quantity=3,
                                expected_version=7, now=MID_DEC, actor=actor(pro),
                                configuration=allow_updates(), gateway=gateway)
    session.rollback()
    assert pro.items[0].price_id == catalog["pro_month"].id and pending(session, pro) == []
    assert events() == []


# ---- previews agree with the engine's upcoming invoice ----------------------------------------

@pytest.mark.parametrize("state", ["plain", "trial", "coupon", "pending items", "scheduled",
                                   "ending", "paused", "balance", "taxed"])
def test_the_list_pages_previews_are_the_upcoming_invoice(session, pro, catalog, coupon, state,
                                                          allow_updates, gateway, now):
    from portal.catalog.models import TaxRate

    customer = pro.customer
    if state == "trial":
        pro.status, pro.trial_end = "trialing", MID_DEC
    elif state == "coupon":
        pro.discount_coupon, pro.discount_end = coupon, JAN_1 + timedelta(days=1)
    elif state == "pending items":
        change(session, pro, allow_updates(), gateway, catalog["team_month"], 3)
    elif state == "scheduled":
        change(session, pro, allow_updates(), gateway, catalog["starter_month"])
    elif state == "ending":
        pro.cancel_at_period_end = True
    elif state == "paused":
        pro.pause_collection_resumes_at = datetime(2027, 2, 1, tzinfo=UTC)
    elif state == "balance":
        customer.balance = -1000
    else:
        customer.address_country = "PT"
        session.add(TaxRate(display_name="VAT", percentage=23, inclusive=False, country="PT",
                            active=True, created=now, metadata_={}))
    session.commit()
    batched = ops.upcoming_invoices(session, customer, [pro], MID_DEC)[pro.id]
    assert batched == invoicing.upcoming_invoice(session, pro, MID_DEC)


# ---- retention offers --------------------------------------------------------------------------

@pytest.fixture
def offers_configured(configure, coupon, catalog):
    return configure(retention_coupon_id=coupon.id, retention_pause_max_months=3,
                     retention_downgrade_price_id=catalog["starter_month"].id,
                     schedule_at_period_end_conditions=["decreasing_item_amount"])


def accept(session, subscription, configuration, offer, *, months=None, at=MID_DEC):
    return ops.accept_retention_offer(session, subscription, offer, months=months,
                                      expected_version=subscription.version, now=at,
                                      actor=actor(subscription), configuration=configuration,
                                      gateway=TestGateway())


def test_the_offers_are_worked_out_with_their_effect_on_the_next_invoice(session, pro,
                                                                        offers_configured):
    offers = ops.retention_offers(session, pro, now=MID_DEC, configuration=offers_configured)
    assert offers.names == ("coupon", "pause", "downgrade")
    assert offers.coupon_invoice.amount_due == 1450
    assert offers.coupon_ends == datetime(2027, 3, 16, 12, tzinfo=UTC)
    assert list(offers.pause_resumes.values()) == [datetime(2027, m, 1, tzinfo=UTC)
                                                   for m in (2, 3, 4)]
    assert offers.downgrade.timing == "period_end" and offers.downgrade.next_invoice.amount_due == 900


def test_accepting_the_coupon_discounts_the_next_three_months(session, pro, offers_configured,
                                                              coupon, events):
    accept(session, pro, offers_configured, "coupon")
    session.commit()
    assert (pro.discount_coupon_id, pro.discount_start) == (coupon.id, MID_DEC)
    assert pro.discount_end == datetime(2027, 3, 16, 12, tzinfo=UTC)
    assert invoicing.upcoming_invoice(session, pro, MID_DEC).amount_due == 1450
    [event] = events(pro.id)
    assert (event.data["action"], event.data["offer"]) == ("retention_offer_accepted", "coupon")
    assert "coupon" in pro.metadata_["retention_offers_accepted"]


def test_accepting_a_pause_skips_the_invoices_until_it_ends(session, pro, offers_configured):
    accept(session, pro, offers_configured, "pause", months=2)
    session.commit()
    assert pro.pause_collection_resumes_at == datetime(2027, 3, 1, tzinfo=UTC)
    assert invoicing.upcoming_invoice(session, pro, MID_DEC) is None


@pytest.mark.parametrize("months", [None, 0, 4, 12])
def test_a_pause_outside_the_months_offered_is_refused(session, pro, offers_configured, months):
    with pytest.raises(ops.SubscriptionRefused) as refused:
        accept(session, pro, offers_configured, "pause", months=months)
    assert (refused.value.field, refused.value.message) == (
        "months", "Choose a pause of 1 to 3 months")


def test_accepting_the_downgrade_switches_at_the_period_end(session, pro, offers_configured,
                                                            catalog, events):
    accepted = accept(session, pro, offers_configured, "downgrade")
    session.commit()
    assert accepted.change.plan.timing == "period_end"
    assert pro.pending_update["price"] == catalog["starter_month"].id
    assert invoicing.upcoming_invoice(session, pro, MID_DEC).amount_due == 900
    [event] = events(pro.id)
    assert (event.data["action"], event.data["offer"]) == ("retention_offer_accepted", "downgrade")


@pytest.mark.parametrize("offer", ["coupon", "pause", "downgrade"])
def test_each_offer_is_taken_at_most_once_however_often_the_form_is_sent(session, pro,
                                                                         offers_configured,
                                                                         offer, events):
    accept(session, pro, offers_configured, offer, months=1)
    session.commit()
    if offer == "coupon":  # so that only "already taken" can refuse it
        pro.discount_coupon = None
    elif offer == "downgrade":
        pro.pending_update = None
    session.commit()
    with pytest.raises(ops.SubscriptionRefused, match="no longer available"):
        accept(session, pro, offers_configured, offer, months=1,
               at=MID_DEC + timedelta(minutes=1))
    session.rollback()
    assert len(events(pro.id)) == 1
    assert offer not in ops.retention_offers(session, pro, now=MID_DEC,
                                             configuration=offers_configured).names


def test_a_yearly_plan_is_not_offered_a_pause_counted_in_months(session, jenny, subscribe,
                                                                catalog, offers_configured):
    yearly = subscribe(jenny, catalog["pro_year"], start=DEC_1)
    assert "pause" not in ops.retention_offers(session, yearly, now=MID_DEC,
                                               configuration=offers_configured).names


def test_the_coupon_is_not_offered_over_a_discount_already_in_force(session, pro, coupon,
                                                                   offers_configured):
    pro.discount_coupon, pro.discount_end = coupon, None
    session.commit()
    assert "coupon" not in ops.retention_offers(session, pro, now=MID_DEC,
                                                configuration=offers_configured).names


def test_a_downgrade_that_is_not_cheaper_is_not_offered(session, jenny, subscribe, catalog,
                                                        offers_configured):
    starter = subscribe(jenny, catalog["starter_month"], start=DEC_1)
    offers_configured.retention_downgrade_price_id = catalog["pro_year"].id
    assert ops.retention_offers(session, starter, now=MID_DEC,
                                configuration=offers_configured).downgrade is None


def test_a_downgrade_already_scheduled_is_not_offered_again(session, pro, offers_configured,
                                                            allow_updates, catalog, gateway):
    change(session, pro, allow_updates(), gateway, catalog["starter_month"])
    assert ops.retention_offers(session, pro, now=MID_DEC,
                                configuration=offers_configured).downgrade is None
