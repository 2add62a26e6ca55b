"""The Acme Cloud demo: a merchant, a catalog, and customers with history. Safe to run again:
every object is found by a natural key before it is made."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.billing.invoicing import customer_snapshot
from portal.catalog.models import Coupon, Price, Product, TaxRate
from portal.customers.models import Customer, normalize_email
from portal.invoices.models import Invoice, InvoiceLine
from portal.invoices.numbering import allocate_invoice_number
from portal.payments.gateway import DECLINE_MESSAGES, CardDetails, TestGateway
from portal.payments.models import Payment, PaymentMethod
from portal.portal_settings.models import CANCELLATION_REASONS, LoginLink
from portal.portal_settings.operations import (
    activate_login_link,
    default_configuration,
    get_branding,
)
from portal.subscriptions.models import Subscription, SubscriptionItem

JENNY = "jenny.rosen@example.com"

# name, description, unit label, {(interval, currency): amount in minor units}
CATALOG = [
    ("Starter", "For individuals getting started.", None,
     {("month", "usd"): 900, ("year", "usd"): 9000, ("month", "eur"): 800, ("year", "eur"): 8000}),
    ("Pro", "For growing teams that need more.", None,
     {("month", "usd"): 2900, ("year", "usd"): 29000, ("month", "eur"): 2700, ("year", "eur"): 27000}),
    ("Team", "Per-seat pricing for whole companies.", "seat",
     {("month", "usd"): 1500, ("year", "usd"): 15000, ("month", "eur"): 1400, ("year", "eur"): 14000}),
]


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later, clamped to the month's last day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def seed_demo(session: Session, *, now: datetime) -> LoginLink:
    """Create whatever of the demo is missing and return the active login link."""
    now = now.astimezone(UTC).replace(microsecond=0)
    branding = get_branding(session)
    branding.business_name = "Acme Cloud"
    branding.brand_color = "#3b2fc9"
    branding.accent_color = "#0b6e4f"
    branding.support_email = "support@acme.example"
    branding.support_url = "https://acme.example/support"
    branding.address = "Acme Cloud Inc.\n500 Market Street\nSan Francisco, CA 94105\nUnited States"
    branding.invoice_prefix = "ACME"

    config = default_configuration(session)
    config.headline = "Acme Cloud partners with us for simplified billing."
    config.privacy_policy_url = "https://acme.example/privacy"
    config.terms_of_service_url = "https://acme.example/terms"
    config.default_return_url = "https://acme.example/account"

    prices = _seed_catalog(session, now)
    _seed_tax_rate(session, now)
    _configure_subscriptions(config, prices, _retention_coupon(session, now))
    created_jenny = now - timedelta(days=200)
    jenny = _customer(session, JENNY, "Jenny Rosen", "current", created_jenny)
    if jenny.address_line1 is None:
        jenny.phone = "+1 415 555 0100"
        jenny.address_line1, jenny.address_city = "27 Fredrick Ave", "Brothers"
        jenny.address_state, jenny.address_postal_code, jenny.address_country = "OR", "97712", "US"
        jenny.preferred_locales = ["en"]
    card = _card(session, jenny, "4242424242424242", 12, now.year + 4, created_jenny)
    jenny.default_payment_method_id = card.id
    _subscription_with_history(session, jenny, prices[("Pro", "month", "usd")], card, now,
                               paid_invoices=6, open_invoice=True)

    # An older customer with the same address, written differently, and nothing active.
    old = _customer(session, "  Jenny.Rosen@Example.com", "Jenny Rosen", "old",
                    now - timedelta(days=900))
    _ended_subscription(session, old, prices[("Starter", "month", "usd")],
                        started=now - timedelta(days=880), ended=now - timedelta(days=600))

    ana = _customer(session, "ana.silva@example.com", "Ana Silva", "ana", now - timedelta(days=400))
    if ana.address_line1 is None:
        ana.address_line1, ana.address_city = "Rua Augusta 100", "Lisboa"
        ana.address_postal_code, ana.address_country = "1100-053", "PT"
        ana.preferred_locales = ["pt", "en"]
    ana_card = _card(session, ana, "5555555555554444", 8, now.year + 2, ana.created)
    ana.default_payment_method_id = ana_card.id
    _subscription_with_history(session, ana, prices[("Team", "year", "eur")], ana_card, now,
                               paid_invoices=1, open_invoice=False, quantity=5)
    _customer(session, "kenji.sato@example.com", "Kenji Sato", "kenji", now - timedelta(days=30))
    _customer(session, "sam.lee@example.com", "Sam Lee", "sam", now - timedelta(days=3))

    link = activate_login_link(session, now=now)
    session.flush()
    return link


def _seed_catalog(session: Session, now: datetime) -> dict:
    prices = {}
    for name, description, unit_label, amounts in CATALOG:
        product = session.scalars(select(Product).where(Product.name == name)).first()
        if product is None:
            product = Product(name=name, description=description, unit_label=unit_label,
                              statement_descriptor=f"ACME {name.upper()}"[:22], active=True,
                              created=now, metadata_={})
            session.add(product)
            session.flush()
        for (interval, currency), amount in amounts.items():
            key = f"{name.lower()}_{interval}ly_{currency}"
            price = session.scalars(select(Price).where(Price.lookup_key == key)).first()
            if price is None:
                price = Price(product=product, unit_amount=amount, currency=currency,
                              recurring_interval=interval, recurring_interval_count=1,
                              nickname=f"{name} {interval}ly", lookup_key=key, active=True,
                              tax_behavior="exclusive", created=now, metadata_={})
                session.add(price)
            prices[(name, interval, currency)] = price
    session.flush()
    return prices


RETENTION_COUPON = "50% off for 3 months"


def _retention_coupon(session: Session, now: datetime) -> Coupon:
    coupon = session.scalars(select(Coupon).where(Coupon.name == RETENTION_COUPON)).first()
    if coupon is None:
        coupon = Coupon(name=RETENTION_COUPON, percent_off=50, duration="repeating",
                        duration_in_months=3, active=True, created=now,
                        metadata_={"demo": "retention"})
        session.add(coupon)
        session.flush()
    return coupon


def _configure_subscriptions(config, prices: dict, coupon: Coupon) -> None:
    """What the demo customers may do with their subscriptions: cancel at the period end with
    the reason survey, after three retention offers (half price for three months, a pause of
    up to three months, Starter instead); switch among the plans in their currency, Team by
    the seat, with prorations on the next invoice, cheaper plans and shorter intervals waiting
    for the period end. Assigned only where different, so seeding again changes no row."""

    def plan(name: str) -> list[str]:
        return [prices[(name, interval, currency)].id for currency in ("usd", "eur")
                for interval in ("month", "year")]

    products = [
        {"product": prices[("Starter", "month", "usd")].product_id, "prices": plan("Starter")},
        {"product": prices[("Pro", "month", "usd")].product_id, "prices": plan("Pro")},
        {"product": prices[("Team", "month", "usd")].product_id, "prices": plan("Team"),
         "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 50}},
    ]
    wanted = {
        "subscription_cancel_enabled": True,
        "subscription_cancel_mode": "at_period_end",
        "subscription_cancel_proration_behavior": "none",
        "cancellation_reason_enabled": True,
        "cancellation_reason_options": list(CANCELLATION_REASONS),
        "retention_coupon_id": coupon.id,
        "retention_pause_max_months": 3,
        "retention_downgrade_price_id": prices[("Starter", "month", "usd")].id,
        "subscription_update_enabled": True,
        "subscription_update_default_allowed_updates": ["price", "quantity"],
        "subscription_update_products": products,
        "subscription_update_proration_behavior": "create_prorations",
        "schedule_at_period_end_conditions": ["decreasing_item_amount", "shortening_interval"],
        "trial_update_behavior": "end_trial",
    }
    for name, value in wanted.items():
        if getattr(config, name) != value:
            setattr(config, name, value)


def _seed_tax_rate(session: Session, now: datetime) -> None:
    if session.scalars(select(TaxRate).where(TaxRate.display_name == "VAT")).first() is None:
        session.add(TaxRate(display_name="VAT", description="EU VAT (Portugal)", percentage=23,
                            inclusive=False, country="PT", active=True, created=now, metadata_={}))


def _customer(session, email, name, demo_key, created) -> Customer:
    candidates = session.scalars(
        select(Customer).where(Customer.email_normalized == normalize_email(email))
    ).all()
    for customer in candidates:
        if (customer.metadata_ or {}).get("demo") == demo_key:
            return customer
    customer = Customer(name=name, created=created, metadata_={"demo": demo_key},
                        preferred_locales=[])
    customer.set_email(email)
    session.add(customer)
    session.flush()
    return customer


def _card(session, customer, number, exp_month, exp_year, created) -> PaymentMethod:
    existing = session.scalars(
        select(PaymentMethod).where(PaymentMethod.customer_id == customer.id,
                                    PaymentMethod.card_last4 == number[-4:])
    ).first()
    if existing is not None:
        return existing
    card = TestGateway().tokenize_card(CardDetails(number, exp_month, exp_year, "123"), now=created)
    method = PaymentMethod(customer_id=customer.id, type="card", card_brand=card.brand,
                           card_last4=card.last4, card_exp_month=card.exp_month,
                           card_exp_year=card.exp_year, card_funding=card.funding,
                           card_country=card.country, fingerprint=card.fingerprint,
                           processor="test", processor_token=card.token,
                           billing_name=customer.name, created=created, metadata_={})
    session.add(method)
    session.flush()
    return method


def _subscription_with_history(session, customer, price, card, now, *, paid_invoices,
                               open_invoice, quantity=1) -> Subscription:
    existing = session.scalars(
        select(Subscription).where(Subscription.customer_id == customer.id)
    ).first()
    if existing is not None:
        return existing
    months = 12 if price.recurring_interval == "year" else 1
    periods = paid_invoices + (1 if open_invoice else 0)
    # The last invoice (the open one, when there is one) is for the current period, which
    # began three days ago; the paid ones are for the periods before it.
    start = add_months(now - timedelta(days=3), -months * (periods - 1))
    current_start = add_months(start, months * (periods - 1))
    sub = Subscription(customer_id=customer.id, status="active", currency=price.currency,
                       current_period_start=current_start,
                       current_period_end=add_months(current_start, months),
                       billing_cycle_anchor=start, collection_method="charge_automatically",
                       default_payment_method_id=card.id, created=start, metadata_={})
    sub.items.append(SubscriptionItem(price=price, quantity=quantity, created=start))
    session.add(sub)
    session.flush()
    for index in range(periods):
        period_start = add_months(start, months * index)
        period_end = add_months(period_start, months)
        is_open = open_invoice and index == periods - 1
        _invoice(session, customer, sub, price, quantity, card, period_start, period_end,
                 paid=not is_open)
    return sub


def _invoice(session, customer, sub, price, quantity, card, period_start, period_end, *, paid):
    amount = price.unit_amount * quantity
    number = allocate_invoice_number(session, get_branding(session).invoice_prefix)
    invoice = Invoice(
        number=number, customer_id=customer.id, subscription_id=sub.id,
        status="paid" if paid else "open", currency=price.currency,
        billing_reason="subscription_cycle", collection_method="charge_automatically",
        subtotal=amount, total_discount=0, tax=0, total=amount, amount_due=amount,
        amount_paid=amount if paid else 0, period_start=period_start, period_end=period_end,
        due_date=period_start + timedelta(days=7), created=period_start,
        finalized_at=period_start, paid_at=period_start + timedelta(minutes=5) if paid else None,
        attempt_count=1, customer_snapshot=customer_snapshot(customer), metadata_={},
    )
    unit = f" per {price.product.unit_label}" if price.product.unit_label else ""
    invoice.lines.append(InvoiceLine(
        position=0, description=f"{quantity} × {price.product.name}{unit} "
                                f"({period_start:%b %-d, %Y} – {period_end:%b %-d, %Y})",
        price_id=price.id, quantity=quantity, unit_amount=price.unit_amount, amount=amount,
        period_start=period_start, period_end=period_end,
    ))
    session.add(invoice)
    session.flush()
    if paid:
        session.add(Payment(idempotency_key=f"demo:{invoice.id}", customer_id=customer.id,
                            invoice_id=invoice.id, payment_method_id=card.id, amount=amount,
                            currency=price.currency, status="succeeded",
                            processor_reference=f"ch_demo_{invoice.id[-12:]}",
                            created=invoice.paid_at, completed_at=invoice.paid_at))
    else:
        # The automatic charge failed; the customer can pay it from the portal.
        failed_at = period_start + timedelta(hours=1)
        session.add(Payment(idempotency_key=f"demo:{invoice.id}", customer_id=customer.id,
                            invoice_id=invoice.id, payment_method_id=card.id, amount=amount,
                            currency=price.currency, status="failed",
                            failure_code="card_declined",
                            failure_message=DECLINE_MESSAGES["card_declined"],
                            created=failed_at, completed_at=failed_at))
        invoice.next_payment_attempt = period_start + timedelta(days=5)


def _ended_subscription(session, customer, price, *, started, ended) -> None:
    if session.scalars(select(Subscription).where(Subscription.customer_id == customer.id)).first():
        return
    sub = Subscription(customer_id=customer.id, status="canceled", currency=price.currency,
                       current_period_start=add_months(ended, -1), current_period_end=ended,
                       canceled_at=ended, ended_at=ended, cancellation_reason="cancellation_requested",
                       cancellation_feedback="switched_service", created=started, metadata_={})
    sub.items.append(SubscriptionItem(price=price, quantity=1, created=started))
    session.add(sub)
