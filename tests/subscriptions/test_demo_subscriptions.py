"""The Acme Cloud demo, as its configuration promises: Jenny can upgrade, downgrade, cancel and
renew her Pro subscription, each with a preview that matches what is applied, with htmx and
without."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.billing import invoicing
from portal.customers.models import Customer
from portal.demo import JENNY, seed_demo
from portal.portal_settings.operations import default_configuration
from portal.subscriptions import operations as ops
from tests.subscriptions.conftest import text_of


@pytest.fixture
def jenny(session, now, sign_in):
    seed_demo(session, now=now)
    session.commit()
    customer = session.scalars(select(Customer).where(Customer.email == JENNY)).one()
    return sign_in(customer)


@pytest.fixture
def subscription(jenny):
    [subscription] = jenny.subscriptions
    return subscription


def confirm_values(page) -> dict[str, str]:
    form = page.select_one("#subscription-panel form[method=post]")
    return {field["name"]: field.get("value", "") for field in form.select("input[name]")}


def test_the_demo_offers_three_retention_offers_and_every_plan_in_dollars(session, jenny,
                                                                         subscription, now):
    configuration = default_configuration(session)
    offers = ops.retention_offers(session, subscription, now=now, configuration=configuration)
    assert offers.names == ("coupon", "pause", "downgrade")
    assert offers.coupon.name == "50% off for 3 months"
    assert list(offers.pause_resumes) == [1, 2, 3]
    options = ops.update_options(session, subscription, now=now, configuration=configuration)
    assert sorted((p.product.name, p.recurring_interval) for p in options.prices) == [
        ("Pro", "month"), ("Pro", "year"), ("Starter", "month"), ("Starter", "year"),
        ("Team", "month"), ("Team", "year")]
    assert all(p.currency == "usd" for p in options.prices)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_jenny_upgrades_to_team_seats_and_her_next_invoice_is_the_previewed_one(
        client_request, session, jenny, subscription, htmx):
    team = next(p for p in ops.update_options(
        session, subscription, now=subscription.current_period_start,
        configuration=default_configuration(session)).prices
        if p.lookup_key == "team_monthly_usd")
    page = client_request.get("subscriptions.preview_change", subscription_id=subscription.id,
                              price=team.id, quantity="2", version=str(subscription.version),
                              _htmx=htmx)
    previewed = text_of(page.select_one("#preview-next-heading ~ table .invoice-lines__total td"))
    client_request.post("subscriptions.confirm_change", subscription_id=subscription.id,
                        _data=confirm_values(page), _htmx=htmx,
                        _expected_status=200 if htmx else 303)
    page = client_request.get("subscriptions.subscription_detail", subscription_id=subscription.id)
    assert text_of(page.select_one(".next-invoice .invoice-lines__total td")) == previewed
    session.expire_all()
    assert [(i.price.lookup_key, i.quantity) for i in subscription.items] == [
        ("team_monthly_usd", 2)]
    assert len(invoicing.pending_items(session, subscription.id)) == 2


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_jenny_downgrades_to_starter_at_the_period_end_then_cancels_and_renews(
        client_request, session, jenny, subscription, htmx):
    starter = next(p for p in ops.update_options(
        session, subscription, now=subscription.current_period_start,
        configuration=default_configuration(session)).prices
        if p.lookup_key == "starter_monthly_usd")
    page = client_request.get("subscriptions.preview_change", subscription_id=subscription.id,
                              price=starter.id, version="1", _htmx=htmx)
    assert "when the period you have paid for ends" in text_of(page.select_one(".summary-list"))
    status = 200 if htmx else 303
    client_request.post("subscriptions.confirm_change", subscription_id=subscription.id,
                        _data=confirm_values(page), _htmx=htmx, _expected_status=status)
    page = client_request.get("subscriptions.subscription_detail", subscription_id=subscription.id)
    assert "Changes to Starter" in text_of(page.select_one("#subscription-panel"))
    assert "$9.00 on" in text_of(page.select_one(".summary-list"))

    page = client_request.get("subscriptions.cancel_offers", subscription_id=subscription.id)
    assert [h.text for h in page.select(".offer h2")] == ["50% off for 3 months",
                                                          "Pause your payments"]
    client_request.post("subscriptions.cancel_subscription", subscription_id=subscription.id,
                        _data={"version": "2", "reason": "too_expensive"}, _htmx=htmx,
                        _expected_status=status)
    session.expire_all()
    assert subscription.cancel_at_period_end and subscription.pending_update is None
    client_request.post("subscriptions.renew_subscription", subscription_id=subscription.id,
                        _data={"version": "3"}, _htmx=htmx, _expected_status=status)
    session.expire_all()
    assert not subscription.cancel_at_period_end
    assert invoicing.upcoming_invoice(session, subscription, subscription.current_period_start
                                      ).amount_due == 2900


def _cycle_invoice(session, subscription, period_start):
    from portal.invoices.models import Invoice

    return session.scalars(select(Invoice).where(
        Invoice.subscription_id == subscription.id, Invoice.period_start == period_start,
        Invoice.billing_reason == "subscription_cycle")).one()


def _change_then_bill_at_period_end(app, client_request, session, subscription, lookup_key,
                                    quantity=None):
    """Preview and confirm a switch to ``lookup_key`` (no JavaScript), then run the billing
    command at the end of the period the change was made in; returns the preview page."""
    price = next(p for p in ops.update_options(
        session, subscription, now=subscription.current_period_start,
        configuration=default_configuration(session)).prices if p.lookup_key == lookup_key)
    values = {"quantity": quantity} if quantity else {}
    page = client_request.get("subscriptions.preview_change", subscription_id=subscription.id,
                              price=price.id, version=str(subscription.version), **values)
    client_request.post("subscriptions.confirm_change", subscription_id=subscription.id,
                        _data=confirm_values(page))
    session.expire_all()
    result = app.test_cli_runner().invoke(
        args=["billing", "run", "--now", subscription.current_period_end.isoformat()])
    assert result.exit_code == 0, result.output
    session.expire_all()
    return page


def test_after_an_upgrade_the_billing_run_at_the_period_end_bills_and_charges_the_preview(
        app, client_request, session, jenny, subscription):
    from portal.money import format_money

    page = _change_then_bill_at_period_end(app, client_request, session, subscription,
                                           "team_monthly_usd", quantity="2")
    previewed = text_of(page.select_one("#preview-next-heading ~ table .invoice-lines__total td"))
    invoice = _cycle_invoice(session, subscription, subscription.current_period_start)
    assert format_money(invoice.total, invoice.currency) == previewed
    assert any(line.proration for line in invoice.lines), "the upgrade's prorations were billed"
    assert invoice.status == "paid"
    assert sum(p.amount for p in invoice.payments if p.status == "succeeded") == invoice.amount_due


def test_a_scheduled_downgrade_is_billed_at_the_new_price_by_the_run_at_the_period_end(
        app, client_request, session, jenny, subscription):
    _change_then_bill_at_period_end(app, client_request, session, subscription,
                                    "starter_monthly_usd")
    invoice = _cycle_invoice(session, subscription, subscription.current_period_start)
    assert (invoice.total, invoice.status) == (900, "paid")
    assert [(i.price.lookup_key, i.quantity) for i in subscription.items] == [
        ("starter_monthly_usd", 1)]
    assert subscription.pending_update is None
