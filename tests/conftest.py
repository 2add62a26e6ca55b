"""Fixtures shared by every test: the app on a real database, clients, and object makers.

The suite runs on SQLite by default and on PostgreSQL when PORTAL_TEST_DATABASE_URI names one.
The schema is built once per run; every test starts from empty tables.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message

import pytest
from bs4 import BeautifulSoup
from flask import url_for
from sqlalchemy import text

from portal import create_app
from portal.extensions import db
from portal.outbox import wakeup

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture(scope="session")
def database_uri(tmp_path_factory, worker_id) -> str:
    uri = os.environ.get("PORTAL_TEST_DATABASE_URI")
    if not uri:
        # tmp_path_factory is per xdist worker already, so each worker has its own file.
        return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "portal-test.db")
    if worker_id == "master":
        return uri
    return _database_for_worker(uri, worker_id)


def _database_for_worker(uri: str, worker_id: str) -> str:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own beside the named
    one (portal_ci -> portal_ci_gw0), made empty at the start of the run."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    name = f"{url.database}_{worker_id}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def base_config(database_uri: str, **overrides) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "WTF_CSRF_ENABLED": False,  # tests/test_csrf.py checks every form with it on
        "MAIL_BACKEND": "console",
        "SERVER_NAME": None,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def _schema(database_uri, tmp_path_factory):
    os.environ["PORTAL_INSTANCE_PATH"] = str(tmp_path_factory.mktemp("instance"))
    app = create_app(base_config(database_uri))
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def app_config() -> dict:
    """Override in a test module (or parametrize indirectly) to change configuration."""
    return {}


@pytest.fixture
def app(_schema, database_uri, app_config, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    application = create_app(base_config(database_uri, **app_config))
    with application.app_context():
        yield application
        # Background deliverers finish the email at hand before the tables are emptied.
        wakeup.stop_all()
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _no_deliverer_outlives_its_test():
    """Apps a test builds itself start deliverers too; none may poll the next test's tables."""
    yield
    wakeup.stop_all()


def _empty_tables() -> None:
    tables = [t.name for t in db.metadata.sorted_tables]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                              + " RESTART IDENTITY CASCADE"))
        else:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            for name in reversed(tables):
                conn.execute(text(f'DELETE FROM "{name}"'))
            conn.execute(text("PRAGMA foreign_keys=ON"))


@pytest.fixture
def session(app):
    """The database session the app uses."""
    return db.session


@pytest.fixture
def drain_outbox(app):
    """``drain_outbox(now=None)``: deliver every outbox row that is due, waiting for what the
    in-process deliverers are sending, as the worker would."""
    from portal.outbox.delivery import drain

    def run(now=None, timeout=10.0):
        assert drain(now=now, timeout=timeout), "an outbox email was still being sent"

    return run


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


HTMX_HEADERS = {"HX-Request": "true", "HX-Request-Type": "partial"}


class ClientRequest:
    """Requests by endpoint name, answered as parsed HTML (GOV.UK Notify's pattern)."""

    def __init__(self, client):
        self.client = client

    def url(self, endpoint: str, **values) -> str:
        with self.client.application.test_request_context():
            return url_for(endpoint, **values)

    def get_response(self, endpoint, *, _expected_status=200, _htmx=False, _headers=None,
                     **values):
        headers = dict(HTMX_HEADERS if _htmx else {}, **(_headers or {}))
        response = self.client.get(self.url(endpoint, **values), headers=headers)
        assert response.status_code == _expected_status, response.get_data(as_text=True)[:2000]
        return response

    def get(self, endpoint, **kwargs) -> BeautifulSoup:
        return BeautifulSoup(self.get_response(endpoint, **kwargs).get_data(as_text=True),
                             "html.parser")

    def post_response(self, endpoint, *, _data=None, _expected_status=303, _htmx=False,
                      _headers=None, _follow_redirects=False, **values):
        headers = dict(HTMX_HEADERS if _htmx else {}, **(_headers or {}))
        response = self.client.post(self.url(endpoint, **values), data=_data or {},
                                    headers=headers, follow_redirects=_follow_redirects)
        assert response.status_code == _expected_status, response.get_data(as_text=True)[:2000]
        return response

    def post(self, endpoint, **kwargs) -> BeautifulSoup:
        return BeautifulSoup(self.post_response(endpoint, **kwargs).get_data(as_text=True),
                             "html.parser")


@pytest.fixture
def client_request(client) -> ClientRequest:
    return ClientRequest(client)


# ---- makers ---------------------------------------------------------------------------------

@pytest.fixture
def make_customer(session, now):
    from portal.customers.models import Customer

    def make(email="jenny.rosen@example.com", name="Jenny Rosen", created=None, **fields):
        fields.setdefault("preferred_locales", [])
        fields.setdefault("metadata_", {})
        customer = Customer(name=name, created=created or now, **fields)
        customer.set_email(email)
        session.add(customer)
        session.commit()
        return customer

    return make


@pytest.fixture
def make_price(session, now):
    from portal.catalog.models import Price, Product

    def make(name="Pro", unit_amount=2900, currency="usd", interval="month", interval_count=1,
             unit_label=None, **fields):
        product = Product(name=name, unit_label=unit_label, active=True, created=now,
                          metadata_={})
        price = Price(product=product, unit_amount=unit_amount, currency=currency,
                      recurring_interval=interval, recurring_interval_count=interval_count,
                      active=True, created=now, metadata_={}, **fields)
        session.add(price)
        session.commit()
        return price

    return make


@pytest.fixture
def make_payment_method(session, now):
    from portal.payments.gateway import CardDetails, TestGateway
    from portal.payments.models import PaymentMethod

    def make(customer, number="4242424242424242", exp_month=12, exp_year=None, default=True,
             created=None):
        card = TestGateway().tokenize_card(
            CardDetails(number, exp_month, exp_year or now.year + 3, "123" if not number.startswith("3") else "1234"),
            now=now,
        )
        method = PaymentMethod(customer_id=customer.id, type="card", card_brand=card.brand,
                               card_last4=card.last4, card_exp_month=card.exp_month,
                               card_exp_year=card.exp_year, card_funding=card.funding,
                               card_country=card.country, fingerprint=card.fingerprint,
                               processor="test", processor_token=card.token,
                               created=created or now, metadata_={})
        session.add(method)
        session.flush()
        if default:
            customer.default_payment_method_id = method.id
        session.commit()
        return method

    return make


@pytest.fixture
def make_subscription(session, now, make_price):
    from portal.subscriptions.models import Subscription, SubscriptionItem

    def make(customer, price=None, status="active", quantity=1, created=None,
             collection_method="charge_automatically", **fields):
        price = price or make_price()
        start = fields.pop("current_period_start", now - timedelta(days=3))
        sub = Subscription(customer_id=customer.id, status=status, currency=price.currency,
                           current_period_start=start,
                           current_period_end=fields.pop("current_period_end",
                                                         start + timedelta(days=30)),
                           collection_method=collection_method, created=created or now,
                           metadata_={}, **fields)
        sub.items.append(SubscriptionItem(price=price, quantity=quantity, created=now))
        session.add(sub)
        session.commit()
        return sub

    return make


@pytest.fixture
def make_invoice(session, now):
    from portal.invoices.models import Invoice, InvoiceLine
    from portal.invoices.numbering import allocate_invoice_number

    def make(customer, status="open", amount=2900, currency="usd", created=None,
             subscription=None, description="Pro plan", tax=0, discount=0, **fields):
        created = created or now
        total = amount - discount + tax
        invoice = Invoice(
            number=allocate_invoice_number(session, "TEST") if status != "draft" else None,
            customer_id=customer.id, subscription_id=subscription.id if subscription else None,
            status=status, currency=currency, subtotal=amount, total_discount=discount, tax=tax,
            total=total, amount_due=total, amount_paid=total if status == "paid" else 0,
            created=created, finalized_at=created if status != "draft" else None,
            paid_at=created if status == "paid" else None,
            due_date=fields.pop("due_date", created + timedelta(days=7)),
            period_start=created, period_end=created + timedelta(days=30),
            customer_snapshot={"name": customer.name, "email": customer.email},
            metadata_={}, **fields,
        )
        invoice.lines.append(InvoiceLine(position=0, description=description, quantity=1,
                                         unit_amount=amount, amount=amount,
                                         discount_amount=discount, tax_amount=tax))
        session.add(invoice)
        session.commit()
        return invoice

    return make


@pytest.fixture
def sign_in(client, session, now):
    """Sign ``customer`` in on the test client as the login flow would, and return it."""
    from portal.customers.auth import SESSION_KEY, open_sign_in_session

    def do(customer, via="login_link", configuration_id=None):
        _, token = open_sign_in_session(customer.id, now=now, via=via,
                                        configuration_id=configuration_id)
        session.commit()
        with client.session_transaction() as cookie_session:
            cookie_session.clear()
            cookie_session[SESSION_KEY] = token
            cookie_session.permanent = True
        return customer

    return do


@pytest.fixture
def customer(make_customer):
    return make_customer()


@pytest.fixture
def signed_in_customer(customer, sign_in):
    return sign_in(customer)


# ---- staff (the dashboard at /admin) ------------------------------------------------------------

STAFF_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def _staff_password_hash() -> str:
    """argon2id is slow by design: hash the test password once per worker, not per test."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(STAFF_PASSWORD)


@pytest.fixture
def make_staff(session, now, _staff_password_hash):
    """A staff account whose password is STAFF_PASSWORD."""
    from portal.admin.models import StaffUser
    from portal.customers.models import normalize_email

    def make(email="owner@acme.example", active=True):
        staff = StaffUser(email=email, email_normalized=normalize_email(email),
                          password_hash=_staff_password_hash, active=active, created=now)
        session.add(staff)
        session.commit()
        return staff

    return make


@pytest.fixture
def staff(make_staff):
    return make_staff()


@pytest.fixture
def sign_in_staff(client, session, now):
    """Sign ``staff`` in on the test client as /admin/sign-in would, and return them."""
    import secrets

    from portal.admin import auth
    from portal.admin.models import StaffSession

    def do(staff, at=None):
        token = secrets.token_urlsafe(32)
        session.add(StaffSession(id=auth._digest(token), staff_id=staff.id,
                                 created=at or now, last_seen=at or now))
        session.commit()
        client.set_cookie(auth.COOKIE_NAME, token, path=auth.COOKIE_PATH)
        return staff

    return do


@pytest.fixture
def signed_in_staff(staff, sign_in_staff):
    return sign_in_staff(staff)


# ---- a real SMTP server -----------------------------------------------------------------------

@dataclass
class SMTPRecorder:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """An aiosmtpd server on a free loopback port; ``.messages`` holds what it received."""
    import socket

    from aiosmtpd.controller import Controller

    # aiosmtpd's Controller cannot start on port 0 (it connects to the port to check it is up),
    # so ask the OS for a free port first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = SMTPRecorder("127.0.0.1", port)
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder
    controller.stop()


@pytest.fixture
def smtp_config(smtp_server) -> dict:
    return {"MAIL_BACKEND": "smtp", "MAIL_SERVER": smtp_server.host, "MAIL_PORT": smtp_server.port,
            "MAIL_DEFAULT_SENDER": "billing@acme.example"}
