"""Faults: PostgreSQL restarted (``pg_ctl restart -m fast``) while signed-in customers read
pages, change their name and pay invoices through gunicorn.

The database is a private cluster of this test's own (never the shared server); the test
runs once, in the PostgreSQL run of the suite, with the other tests that deploy the portal. Afterwards the rows are checked with SQL for anything half-written,
and the same gunicorn workers must answer again: the pool recovered without a restart.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from tests.conftest import base_config
from tests.production.faults import report
from tests.production.servers import Browser, clean_env, form_fields, wait_for

BUSINESS = "Acme Cloud"
CUSTOMERS = 3
INVOICES_EACH = 8

# Deployed as production runs it: in the PostgreSQL run of the suite only (conftest.py).
pytestmark = pytest.mark.usefixtures("deployed_on_postgresql")


def seed(session, now) -> list[dict]:
    """Branding, the default configuration, and CUSTOMERS customers with a card and
    INVOICES_EACH open invoices each; returns [{"id", "name", "invoices"}]."""
    from portal.customers.models import Customer
    from portal.invoices.models import Invoice, InvoiceLine
    from portal.invoices.numbering import allocate_invoice_number
    from portal.payments.gateway import CardDetails, TestGateway
    from portal.payments.models import PaymentMethod
    from portal.portal_settings.operations import default_configuration, get_branding

    get_branding(session).business_name = BUSINESS
    default_configuration(session)
    made = []
    for n in range(CUSTOMERS):
        customer = Customer(name=f"Customer {n}", created=now, preferred_locales=[],
                            metadata_={})
        customer.set_email(f"customer{n}@example.com")
        session.add(customer)
        session.flush()
        card = TestGateway().tokenize_card(CardDetails("4242424242424242", 12, now.year + 3,
                                                       "123"), now=now)
        method = PaymentMethod(customer_id=customer.id, type="card", card_brand=card.brand,
                               card_last4=card.last4, card_exp_month=card.exp_month,
                               card_exp_year=card.exp_year, card_funding=card.funding,
                               card_country=card.country, fingerprint=card.fingerprint,
                               processor="test", processor_token=card.token, created=now,
                               metadata_={})
        session.add(method)
        session.flush()
        customer.default_payment_method_id = method.id
        invoices = []
        for _ in range(INVOICES_EACH):
            invoice = Invoice(
                number=allocate_invoice_number(session, "FLT"), customer_id=customer.id,
                status="open", currency="usd", subtotal=1500, total_discount=0, tax=0,
                total=1500, amount_due=1500, amount_paid=0, created=now, finalized_at=now,
                due_date=now + timedelta(days=7), period_start=now,
                period_end=now + timedelta(days=30),
                customer_snapshot={"name": customer.name, "email": customer.email},
                metadata_={})
            invoice.lines.append(InvoiceLine(position=0, description="Pro plan", quantity=1,
                                             unit_amount=1500, amount=1500, discount_amount=0,
                                             tax_amount=0))
            session.add(invoice)
            session.flush()
            invoices.append(invoice.id)
        made.append({"id": customer.id, "name": customer.name, "invoices": invoices})
    session.commit()
    return made


def cookie_for(app, customer_id: str, now) -> str:
    """A signed session cookie for a fresh sign-in of ``customer_id``, as the login makes."""
    from portal.customers.auth import SESSION_KEY, open_sign_in_session

    _, token = open_sign_in_session(customer_id, now=now, via="login_link")
    db.session.commit()
    client = app.test_client()
    with client.session_transaction() as cookie_session:
        cookie_session[SESSION_KEY] = token
        cookie_session.permanent = True
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value


class Tally:
    """Every answer the load got, by what a customer would see."""

    def __init__(self):
        self.lock = threading.Lock()
        self.kinds: Counter = Counter()
        self.bad: list[str] = []
        self.names_saved: dict[str, set[str]] = {}
        self.names_sent: dict[str, set[str]] = {}
        self.paid: set[str] = set()

    def answer(self, what: str, response: httpx.Response) -> str:
        """Classify one answer: a normal page or redirect, the branded 503, or bad."""
        status = response.status_code
        if status in (200, 303):
            kind = "ok"
        elif (status == 503 and response.headers.get("Retry-After")
              and f"<span>{BUSINESS}</span>" in response.text and "Traceback" not in response.text):
            kind = "503"
        else:
            kind = "bad"
            with self.lock:
                self.bad.append(f"{what}: {status} {response.text[:300]!r}")
        with self.lock:
            self.kinds[kind] += 1
        return kind

    def broken(self, what: str, error: Exception) -> None:
        with self.lock:
            self.kinds["bad"] += 1
            self.bad.append(f"{what}: {type(error).__name__} {error}")


def reader(portal, cookie, tally, stop):
    """GETs the overview, the invoices and the billing information, round and round."""
    browser = Browser(portal)
    browser.cookies["portal_session"] = cookie
    while not stop.is_set():
        for path in ("/p/", "/p/invoices", "/p/billing-information"):
            try:
                tally.answer(f"GET {path}", browser.get(path))
            except httpx.HTTPError as error:
                tally.broken(f"GET {path}", error)
    browser.close()


def writer(portal, cookie, customer, tally, stop):
    """Changes the customer's name (a new one each time) and pays their invoices in turn."""
    browser = Browser(portal)
    browser.cookies["portal_session"] = cookie
    sent, saved = set(), set()
    tally.names_sent[customer["id"]], tally.names_saved[customer["id"]] = sent, saved
    invoices = list(customer["invoices"])
    number = 0
    while not stop.is_set():
        number += 1
        name = f"{customer['name']} v{number}"
        try:
            page = browser.get("/p/billing-information/name")
            if tally.answer("GET name form", page) == "ok":
                fields = form_fields(page.text, "/p/billing-information/name")
                sent.add(name)
                answer = browser.post("/p/billing-information/name",
                                      {**fields, "name": name})
                if tally.answer("POST name", answer) == "ok":
                    saved.add(name)
        except httpx.HTTPError as error:
            tally.broken("name", error)
        if invoices:
            invoice = invoices[0]
            path = f"/p/invoices/{invoice}"
            try:
                page = browser.get(path)
                if tally.answer("GET invoice", page) != "ok":
                    continue
                if "pay-form" not in page.text:
                    invoices.pop(0)  # paid already: the answer was lost to the restart
                    continue
                answer = browser.post(f"{path}/pay", form_fields(page.text, f"{path}/pay"))
                if tally.answer("POST pay", answer) == "ok":
                    with tally.lock:
                        tally.paid.add(invoice)
                    invoices.pop(0)
            except httpx.HTTPError as error:
                tally.broken("pay", error)
    browser.close()


def test_a_postgresql_restart_mid_load_fails_requests_cleanly_and_the_pool_recovers(
        private_postgresql, start_gunicorn, tmp_path, monkeypatch):
    """Injected: ``pg_ctl restart -m fast`` of the portal's PostgreSQL while 3 readers and 3
    writers (name changes, invoice payments) ran against gunicorn (2 workers x 4 threads).
    Counted: answers by kind (normal, the branded 503 with Retry-After, anything else: none
    allowed), then in SQL: each paid invoice has exactly one succeeded payment and each
    succeeded payment a paid invoice, every payment the customer saw succeed is there, every
    saved name change has exactly one audit event and no event lacks its change; and the
    same worker PIDs answer afterwards."""
    uri = private_postgresql.createdb("portal")
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "test-instance"))
    app = create_app(base_config(uri))
    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        db.create_all()
        customers = seed(db.session, now)
        cookies = [cookie_for(app, c["id"], now) for c in customers]
        db.session.remove()
    portal = start_gunicorn(clean_env(SQLALCHEMY_DATABASE_URI=uri,
                                      INSTANCE_PATH=str(tmp_path / "instance"),
                                      WORKER_MODE="external"), workers=2, threads=4)
    pids = portal.worker_pids()
    tally, stop = Tally(), threading.Event()
    threads = [threading.Thread(target=reader, args=(portal, cookie, tally, stop))
               for cookie in cookies]
    threads += [threading.Thread(target=writer, args=(portal, cookie, customer, tally,
                                                      stop))
                for cookie, customer in zip(cookies, customers, strict=True)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: tally.kinds["ok"] >= 30 and len(tally.paid) >= 3,
                 what="the load to get going")
        before = tally.kinds["ok"]
        private_postgresql.restart()
        wait_for(lambda: tally.kinds["ok"] >= before + 60, what="the load to go on")
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert tally.bad == [], (tally.bad[:5], portal.output[-6000:])
    assert tally.kinds["503"] >= 1, "no request met the restart"
    assert portal.worker_pids() == pids, "the same gunicorn workers answer"
    for cookie in cookies:
        browser = Browser(portal)
        browser.cookies["portal_session"] = cookie
        assert browser.get("/p/invoices").status_code == 200
        browser.close()
    assert "Traceback" not in portal.output, portal.output[-3000:]

    with app.app_context():
        counts = check_invariants(db.session, customers, tally)
        db.session.remove()
        db.engine.dispose()
    report("pg_ctl restart -m fast of PostgreSQL under load (3 readers, 3 writers, "
           "gunicorn 2x4)",
           f"{tally.kinds['ok']} normal answers, {tally.kinds['503']} branded 503s with "
           f"Retry-After, 0 others; {counts['paid']} invoices paid, each with 1 succeeded "
           f"payment, {counts['processing']} left processing for reconciliation, 0 charged "
           f"twice; {counts['renamed']} name changes, each with 1 audit event; same "
           f"{len(pids)} worker PIDs after")


def check_invariants(session, customers, tally) -> dict:
    """The SQL checks for half-written rows; returns what was counted."""
    from portal.customers.models import Customer
    from portal.events import AuditEvent
    from portal.invoices.models import Invoice
    from portal.payments.models import Payment

    succeeded = Counter(session.scalars(select(Payment.invoice_id).where(
        Payment.status == "succeeded")))
    processing = Counter(session.scalars(select(Payment.invoice_id).where(
        Payment.status == "processing")))
    paid = 0
    for invoice in session.scalars(select(Invoice)):
        if invoice.status == "paid":
            paid += 1
            assert succeeded[invoice.id] == 1, invoice.id
            assert invoice.amount_paid == invoice.total and processing[invoice.id] == 0
        else:
            assert invoice.status == "open" and succeeded[invoice.id] == 0, invoice.id
            assert invoice.amount_paid == 0
    assert tally.paid <= {i for i, n in succeeded.items() if n}, "a payment seen is missing"
    renamed = 0
    for made in customers:
        customer = session.get(Customer, made["id"])
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.customer_id == made["id"], AuditEvent.type == "customer.updated")).all()
        previous = [event.data["previous_attributes"]["name"] for event in events]
        assert len(previous) == len(set(previous)), "a change recorded twice"
        sent = tally.names_sent[made["id"]]
        assert set(previous) <= sent | {made["name"]}
        committed = (set(previous) - {made["name"]}) | ({customer.name} - {made["name"]})
        assert customer.name in sent | {made["name"]} and customer.name not in previous
        assert tally.names_saved[made["id"]] <= committed, "a saved name change is missing"
        assert len(events) == len(committed), "each change has exactly one audit event"
        renamed += len(committed)
    assert session.scalar(select(func.count()).select_from(Payment).where(
        Payment.status == "failed")) == 0
    return {"paid": paid, "processing": sum(processing.values()), "renamed": renamed}

