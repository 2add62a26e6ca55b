"""bench/seed_large.py at a tiny scale: what it writes is what the portal itself would have
written, so a seeded customer's pages show their invoices and the billing engine renews them.

PostgreSQL only (the seed writes with COPY); the full-size run is the benchmark's, not the
suite's."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections import Counter
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from portal.billing import engine
from portal.billing.policy import BillingPolicy
from portal.customers.models import Customer
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.money import format_money
from portal.payments.gateway import get_gateway
from portal.payments.models import Payment
from portal.subscriptions.models import Subscription

# 30 customers, 45 subscriptions, 300 invoices; cust-1 is a heavy customer with 100+.
SCALE = 0.0003


def _load_script():
    """bench/seed_large.py by its path: bench/ is a folder of scripts, not an installed
    package."""
    path = Path(__file__).resolve().parents[2] / "bench" / "seed_large.py"
    spec = importlib.util.spec_from_file_location("bench_seed_large", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


seed_database = _load_script().seed_database


def seed(database_uri: str, now, due: float = 0.0):
    """Seed the test database at a tiny scale as of ``now``; PostgreSQL only."""
    if not database_uri.startswith("postgresql"):
        pytest.skip("bench/seed_large.py writes with PostgreSQL's COPY; set "
                    "PORTAL_TEST_DATABASE_URI to a PostgreSQL database to run this test")
    db.session.remove()  # the seed sets indexes aside: no transaction of ours may hold a lock
    seed_database(database_uri, scale=SCALE, seed_value=12, now=now, due=due,
                  out=lambda *a, **k: None)
    return now


@pytest.fixture
def seeded(app, database_uri, now):
    """The test database seeded at a tiny scale as of ``now``."""
    return seed(database_uri, now)


@pytest.fixture
def seeded_due(app, database_uri, now):
    """Seeded with every fifth subscription's period ending at ``now``."""
    return seed(database_uri, now, due=0.2)


def newest_invoices(customer_id: str) -> list[Invoice]:
    """The customer's invoices as the history lists them: newest first."""
    return db.session.scalars(select(Invoice).where(Invoice.customer_id == customer_id)
                              .order_by(Invoice.created.desc(), Invoice.id.desc())).all()


def test_the_seed_writes_the_sizes_asked_for_with_every_invoice_numbered_once(seeded):
    counts = {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
              for model in (Customer, Subscription, Invoice)}
    assert counts == {"customer": 30, "subscription": 45, "invoice": 300}
    numbers = db.session.scalars(select(Invoice.number)).all()
    assert sorted(numbers) == [f"INV-{n:04d}" for n in range(1, 301)]
    heavy = db.session.scalars(select(Customer).where(Customer.email == "cust-1@example.com")).one()
    assert len(newest_invoices(heavy.id)) >= 100


def test_a_heavy_customer_sees_their_seeded_invoices_page_after_page(seeded, sign_in,
                                                                      client_request):
    customer = db.session.scalars(select(Customer)
                                  .where(Customer.email == "cust-1@example.com")).one()
    invoices = newest_invoices(customer.id)
    sign_in(customer)

    overview = client_request.get("customers.overview")
    assert customer.name in overview.text
    assert invoices[0].number in overview.text

    first = client_request.get("invoices.invoice_history")
    assert invoices[0].number in first.text and invoices[10].number not in first.text
    second = client_request.get("invoices.invoice_history", after=invoices[9].id)
    for invoice in invoices[10:20]:
        assert invoice.number in second.text
        assert format_money(invoice.total, invoice.currency, "en") in second.text
    assert invoices[9].number not in second.text

    invoice = invoices[15]
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    assert invoice.number in page.text
    assert format_money(invoice.total, invoice.currency, "en") in page.text
    assert invoice.lines[0].description in page.text

    response = client_request.get_response("invoices.invoice_pdf", invoice_id=invoice.id)
    assert response.mimetype == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert invoice.number in text
    assert format_money(invoice.total, invoice.currency, "en") in text

    cards = client_request.get("payments.payment_methods")
    assert customer.default_payment_method.card_last4 in cards.text
    details = client_request.get("customers.billing_information")
    assert customer.address_city in details.text


def test_a_past_due_customer_pays_their_seeded_open_invoice(seeded, sign_in, client_request):
    customer = db.session.scalars(select(Customer)
                                  .where(Customer.email == "cust-3@example.com")).one()
    invoice = db.session.scalars(select(Invoice).where(Invoice.customer_id == customer.id,
                                                       Invoice.status == "open")).one()
    sign_in(customer)
    page = client_request.get("invoices.invoice_detail", invoice_id=invoice.id)
    key = page.select_one("input[name=idempotency_key]")["value"]

    client_request.post("invoices.pay_invoice", invoice_id=invoice.id,
                        _data={"payment_method": customer.default_payment_method_id,
                               "idempotency_key": key}, _follow_redirects=True,
                        _expected_status=200)

    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == "paid"


def test_the_billing_engine_renews_every_seeded_subscription_that_is_due_once(seeded_due):
    now = seeded_due
    due = set(db.session.scalars(select(Subscription.id)
                                 .where(Subscription.current_period_end <= now)).all())
    others = {s.id: s.current_period_end for s in db.session.scalars(
        select(Subscription).where(Subscription.id.not_in(due))).all()}
    before = db.session.scalar(select(func.count()).select_from(Invoice))
    db.session.rollback()

    summary = engine.run(db.session, now=now, gateway=get_gateway(), policy=BillingPolicy())

    assert summary.errors == 0 and summary.renewed == summary.invoiced == len(due) == 9
    new = db.session.scalars(select(Invoice).where(Invoice.created == now)).all()
    assert sorted(i.subscription_id for i in new) == sorted(due)
    assert {i.period_start for i in new} == {now}
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == before + len(due)
    succeeded = Counter(db.session.scalars(select(Payment.invoice_id).where(
        Payment.status == "succeeded", Payment.invoice_id.in_([i.id for i in new]))).all())
    assert sorted(succeeded) == sorted(i.id for i in new) and set(succeeded.values()) == {1}
    assert {s.id: s.current_period_end for s in db.session.scalars(
        select(Subscription).where(Subscription.id.not_in(due))).all()} == others
