"""Failed automatic payments: the invoice stays open and is retried on the policy's schedule,
the subscription is past due meanwhile and canceled or unpaid after the last retry, and the
customer is emailed each time with a link to pay. Paying makes the subscription active again."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import render_template
from sqlalchemy import select

from portal.billing.charging import invoice_url
from portal.billing.policy import BillingPolicy
from portal.invoices import operations
from portal.invoices.models import Invoice
from portal.payments.gateway import get_gateway
from portal.payments.models import Payment
from tests.billing.helpers import (
    DECLINED,
    FEB_1,
    JAN_1,
    MAR_1,
    events_of,
    invoices_of,
    outbox,
    payments_of,
)


@pytest.fixture
def declined(customer, make_payment_method):
    """The customer's default card declines every charge."""
    return make_payment_method(customer, number=DECLINED)


@pytest.fixture
def failing(customer, declined, pro, make_subscription):
    """A monthly subscription whose card declines."""
    return make_subscription(customer, pro, current_period_start=JAN_1,
                             current_period_end=FEB_1, billing_cycle_anchor=JAN_1)


def test_a_declined_renewal_leaves_the_invoice_open_and_the_subscription_past_due(
        bill, session, failing, customer):
    summary = bill(FEB_1)
    [invoice] = invoices_of(session, failing)
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert invoice.next_payment_attempt == FEB_1 + timedelta(days=3)
    session.refresh(failing)
    assert failing.status == "past_due"
    [payment] = payments_of(session, invoice)
    assert (payment.status, payment.failure_code) == ("failed", "card_declined")
    assert (summary.charged, summary.failed) == (0, 1)
    [email] = outbox(session)
    assert email.dedupe_key == f"{invoice.id}:payment_failed:1"
    assert email.payload["to"] == customer.email
    assert email.payload["template"] == "billing_payment_failed"
    context = email.payload["context"]
    assert context["pay_url"] == f"http://127.0.0.1:5000/p/invoices/{invoice.id}"
    assert (context["amount_due"], context["currency"], context["attempt"]) == (2900, "usd", 1)
    assert context["next_attempt_text"] == "February 4, 2027"
    [event] = events_of(session, "invoice.payment_failed")
    assert event.object_id == invoice.id


def test_the_failure_email_names_the_amount_the_next_try_and_the_link_to_pay(
        bill, session, failing):
    bill(FEB_1)
    [email] = outbox(session)
    context = email.payload["context"]
    text = render_template("emails/billing_payment_failed.txt", **context)
    html = render_template("emails/billing_payment_failed.html", **context)
    for body in (text, html):
        assert "$29.00" in body
        assert "February 4, 2027" in body
        assert context["pay_url"] in body
        assert "Your card was declined." in body
    assert f'href="{context["pay_url"]}"' in html


def test_retries_follow_the_schedule_and_the_last_failure_cancels(bill, session, failing,
                                                                  gateway):
    bill(FEB_1)
    assert bill(FEB_1 + timedelta(days=3) - timedelta(seconds=1)).failed == 0
    for days, next_days in ((3, 5), (5, 7)):
        bill(FEB_1 + timedelta(days=days))
        [invoice] = invoices_of(session, failing)
        assert invoice.next_payment_attempt == FEB_1 + timedelta(days=next_days)
    final = bill(FEB_1 + timedelta(days=7))
    [invoice] = invoices_of(session, failing)
    assert (invoice.status, invoice.attempt_count, invoice.next_payment_attempt) == (
        "open", 4, None)
    session.refresh(failing)
    assert failing.status == "canceled"
    assert failing.ended_at == FEB_1 + timedelta(days=7)
    assert failing.cancellation_reason == "payment_failed"
    assert final.canceled == 1
    assert [p.idempotency_key for p in payments_of(session, invoice)] == [
        f"{invoice.id}:attempt:{n}" for n in (1, 2, 3, 4)]
    emails = outbox(session)
    assert [e.dedupe_key for e in emails] == [
        f"{invoice.id}:payment_failed:{n}" for n in (1, 2, 3, 4)]
    assert [e.payload["template"] for e in emails] == ["billing_payment_failed"] * 3 + [
        "billing_payment_failed_final"]
    assert emails[-1].payload["subject"].endswith("subscription has been canceled")
    [deleted] = events_of(session, "customer.subscription.deleted")
    assert deleted.data["cancellation_reason"] == "payment_failed"
    # Nothing more is tried, and a canceled subscription is not renewed.
    calls = len(gateway.calls)
    assert bill(MAR_1 + timedelta(days=3)).line().startswith("renewed 0, invoiced 0, charged 0")
    assert len(gateway.calls) == calls


def test_the_final_email_says_the_subscription_was_canceled_and_links_the_invoice(
        bill, session, failing):
    for days in (0, 3, 5, 7):
        bill(FEB_1 + timedelta(days=days))
    final = outbox(session)[-1]
    context = final.payload["context"]
    for name in ("txt", "html"):
        body = render_template(f"emails/billing_payment_failed_final.{name}", **context)
        assert "We tried 4 times" in body
        assert "Your subscription has been canceled." in body
        assert context["pay_url"] in body


def test_after_the_last_failure_an_unpaid_subscription_is_invoiced_but_not_charged(
        bill, session, failing, gateway):
    unpaid = BillingPolicy(retry_days=(3,), after_final_failure="unpaid")
    bill(FEB_1, policy_=unpaid)
    bill(FEB_1 + timedelta(days=3), policy_=unpaid)
    session.refresh(failing)
    assert failing.status == "unpaid" and failing.ended_at is None
    assert outbox(session)[-1].payload["subject"].endswith("is on hold until you pay")
    calls = len(gateway.calls)
    bill(MAR_1, policy_=unpaid)
    invoices = invoices_of(session, failing)
    assert [i.period_start for i in invoices] == [FEB_1, MAR_1]
    assert all(i.status == "open" and i.next_payment_attempt is None for i in invoices)
    assert len(gateway.calls) == calls


def test_no_retries_configured_means_the_first_failure_is_the_last(bill, session, failing):
    bill(FEB_1, policy_=BillingPolicy(retry_days=()))
    session.refresh(failing)
    assert failing.status == "canceled"
    assert outbox(session)[-1].payload["template"] == "billing_payment_failed_final"


def test_a_retry_that_succeeds_pays_the_invoice_and_restores_the_subscription(
        bill, session, failing, customer, make_payment_method, gateway):
    bill(FEB_1)
    make_payment_method(customer, number="5555555555554444")  # the new default card
    summary = bill(FEB_1 + timedelta(days=3))
    [invoice] = invoices_of(session, failing)
    assert (invoice.status, invoice.next_payment_attempt) == ("paid", None)
    session.refresh(failing)
    assert failing.status == "active"
    assert summary.charged == 1
    [restored] = [e for e in events_of(session, "customer.subscription.updated")
                  if e.data.get("reason") == "invoice_paid"]
    assert restored.data["previous_status"] == "past_due"


def test_a_customer_without_a_card_fails_without_reaching_the_processor(
        bill, session, customer, pro, make_subscription, gateway):
    sub = make_subscription(customer, pro, current_period_start=JAN_1, current_period_end=FEB_1)
    summary = bill(FEB_1)
    [invoice] = invoices_of(session, sub)
    [payment] = payments_of(session, invoice)
    assert (payment.status, payment.failure_code, payment.payment_method_id) == (
        "failed", "payment_method_missing", None)
    assert operations.decline_message(payment).startswith("There is no card on file")
    assert gateway.calls == []
    assert invoice.attempt_count == 1 and summary.failed == 1
    session.refresh(sub)
    assert sub.status == "past_due"
    assert len(outbox(session)) == 1


def test_an_expired_card_fails_without_reaching_the_processor(bill, session, monthly, card,
                                                              gateway):
    card.card_exp_year, card.card_exp_month = 2026, 12
    session.commit()
    bill(FEB_1)
    [invoice] = invoices_of(session, monthly)
    [payment] = payments_of(session, invoice)
    assert (payment.status, payment.failure_code) == ("failed", "expired_card")
    assert gateway.calls == []


def test_a_customers_own_failed_try_in_the_portal_does_not_move_the_schedule(
        bill, session, failing, declined, gateway):
    bill(FEB_1)
    [invoice] = invoices_of(session, failing)
    result = operations.pay_invoice(session, invoice, declined, "k" * 32,
                                    now=FEB_1 + timedelta(days=1), actor="customer:x",
                                    gateway=get_gateway())
    assert result.status == "failed"
    session.expire_all()
    invoice = session.get(Invoice, invoice.id)
    assert invoice.next_payment_attempt == FEB_1 + timedelta(days=3)
    assert len(outbox(session)) == 1
    bill(FEB_1 + timedelta(days=3))
    session.expire_all()
    keys = [p.idempotency_key for p in payments_of(session, invoice)]
    assert keys[-1] == f"{invoice.id}:attempt:2"


def test_an_invoice_paid_before_its_retry_is_not_charged_again(
        bill, session, failing, customer, make_payment_method, gateway):
    bill(FEB_1)
    good = make_payment_method(customer, number="5555555555554444")
    [invoice] = invoices_of(session, failing)
    operations.pay_invoice(session, invoice, good, "p" * 32, now=FEB_1 + timedelta(days=1),
                           actor="customer:x", gateway=get_gateway())
    calls = len(gateway.calls)
    assert bill(FEB_1 + timedelta(days=3)).charged == 0
    assert len(gateway.calls) == calls


# ---- a payment left processing -----------------------------------------------------------------

def test_a_payment_left_processing_blocks_charges_until_it_is_asked_about_again(
        bill, session, monthly, gateway):
    gateway.broken = True  # the processor gives no answer: did the money move?
    first = bill(FEB_1)
    [invoice] = invoices_of(session, monthly)
    [payment] = payments_of(session, invoice)
    assert payment.status == "processing" and first.skipped == 1
    gateway.broken = False
    # Within the hour, another run must not charge: the first charge may yet go through.
    assert bill(FEB_1 + timedelta(minutes=30)).skipped == 1
    assert len(gateway.calls) == 1
    # Then it asks the processor again with the same key, which answers without a second
    # charge, and saves the answer.
    later = bill(FEB_1 + timedelta(hours=1))
    assert later.charged == 1
    session.expire_all()
    [payment] = payments_of(session, invoice)
    assert payment.status == "succeeded"
    assert [c["idempotency_key"] for c in gateway.calls] == [payment.idempotency_key] * 2
    invoice = session.get(Invoice, invoice.id)
    assert (invoice.status, invoice.amount_paid, invoice.attempt_count) == ("paid", 2900, 1)


def test_a_payment_processing_for_more_than_a_day_is_left_for_the_merchant(
        bill, session, monthly, gateway, caplog):
    gateway.broken = True
    bill(FEB_1)
    gateway.broken = False
    summary = bill(FEB_1 + timedelta(hours=25))
    assert summary.skipped == 1 and len(gateway.calls) == 1
    assert "check it with the processor" in caplog.text
    [payment] = session.scalars(select(Payment)).all()
    assert payment.status == "processing"


# ---- paying restores the subscription ------------------------------------------------------

def _pay_form(page, method_id):
    form = page.select_one("#invoice-payment form")
    assert form is not None, "no pay form on the page"
    return {"idempotency_key": form.select_one("input[name=idempotency_key]")["value"],
            "payment_method": method_id}


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_paying_the_past_due_invoice_in_the_portal_makes_the_subscription_active(
        bill, session, failing, customer, sign_in, client_request, make_payment_method,
        htmx):
    bill(FEB_1)
    good = make_payment_method(customer, number="5555555555554444", default=False)
    sign_in(customer)
    [invoice] = invoices_of(session, failing)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    client_request.post("invoices.pay_invoice", invoice_id=invoice.id,
                        _data=_pay_form(page, good.id), _htmx=htmx,
                        _expected_status=200 if htmx else 303)
    session.expire_all()
    assert session.get(Invoice, invoice.id).status == "paid"
    session.refresh(failing)
    assert failing.status == "active"


def test_the_subscription_stays_past_due_until_every_past_due_invoice_is_paid(
        bill, session, failing, customer, sign_in, client_request, make_payment_method):
    bill(MAR_1)
    good = make_payment_method(customer, number="5555555555554444", default=False)
    sign_in(customer)
    feb, mar = invoices_of(session, failing)
    assert (feb.status, mar.status) == ("open", "open")
    page = client_request.get("invoices.invoice_detail", invoice_id=feb.id)
    client_request.post_response("invoices.pay_invoice", invoice_id=feb.id,
                                 _data=_pay_form(page, good.id))
    session.refresh(failing)
    assert failing.status == "past_due"
    page = client_request.get("invoices.invoice_detail", invoice_id=mar.id)
    client_request.post_response("invoices.pay_invoice", invoice_id=mar.id,
                                 _data=_pay_form(page, good.id))
    session.refresh(failing)
    assert failing.status == "active"


def test_paying_an_unpaid_subscriptions_invoices_makes_it_active(
        bill, session, failing, customer, make_payment_method):
    bill(FEB_1, policy_=BillingPolicy(retry_days=(), after_final_failure="unpaid"))
    session.refresh(failing)
    assert failing.status == "unpaid"
    good = make_payment_method(customer, number="5555555555554444")
    [invoice] = invoices_of(session, failing)
    result = operations.pay_invoice(session, invoice, good, "u" * 32,
                                    now=FEB_1 + timedelta(days=1), actor="customer:x",
                                    gateway=get_gateway())
    assert result.status == "succeeded"
    session.refresh(failing)
    assert failing.status == "active"


def test_paying_a_canceled_subscriptions_invoice_leaves_it_canceled(
        bill, session, failing, customer, make_payment_method):
    bill(FEB_1, policy_=BillingPolicy(retry_days=()))
    good = make_payment_method(customer, number="5555555555554444")
    [invoice] = invoices_of(session, failing)
    operations.pay_invoice(session, invoice, good, "c" * 32, now=FEB_1 + timedelta(days=1),
                           actor="customer:x", gateway=get_gateway())
    session.refresh(failing)
    assert failing.status == "canceled"


# ---- the pay link ----------------------------------------------------------------------------

def test_the_pay_link_is_absolute_under_the_public_url(app):
    app.config["PUBLIC_URL"] = "https://billing.acme.example/"
    assert invoice_url("in_123") == "https://billing.acme.example/p/invoices/in_123"


def test_the_pay_link_is_a_path_where_there_is_no_app(app):
    found = []
    thread = threading.Thread(target=lambda: found.append(invoice_url("in_123")))
    thread.start()
    thread.join()
    assert found == ["/p/invoices/in_123"]


# ---- the policy from the configuration ------------------------------------------------------

@pytest.mark.parametrize(("config", "expected"), [
    ({}, BillingPolicy(retry_days=(3, 5, 7), after_final_failure="canceled")),
    ({"BILLING_RETRY_DAYS": [1, 2], "BILLING_AFTER_FINAL_FAILURE": "unpaid"},
     BillingPolicy(retry_days=(1, 2), after_final_failure="unpaid")),
    ({"BILLING_RETRY_DAYS": "2, 4,8"}, BillingPolicy(retry_days=(2, 4, 8))),
    ({"BILLING_RETRY_DAYS": []}, BillingPolicy(retry_days=())),
], ids=["defaults", "list-and-unpaid", "text", "no-retries"])
def test_the_policy_reads_the_billing_settings(config, expected):
    assert BillingPolicy.from_config(config) == expected


@pytest.mark.parametrize("config", [
    {"BILLING_RETRY_DAYS": "soon"},
    {"BILLING_RETRY_DAYS": [3, 1]},
    {"BILLING_RETRY_DAYS": [0, 3]},
    {"BILLING_RETRY_DAYS": [3, 3]},
    {"BILLING_RETRY_DAYS": [1.5]},
    {"BILLING_RETRY_DAYS": 3},
    {"BILLING_AFTER_FINAL_FAILURE": "delete"},
], ids=["words", "backwards", "zero", "repeated", "fraction", "not-a-list", "unknown-outcome"])
def test_the_policy_refuses_settings_it_cannot_follow(config):
    with pytest.raises(ValueError, match="PORTAL_BILLING_"):
        BillingPolicy.from_config(config)
