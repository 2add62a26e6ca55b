"""One seeded demo served for a whole test module, for the slow browser tests that only look
(axe, the keyboard journey): the per-test ``app`` fixture would seed and serve it again for
every page and state. ``module_demo(database_uri, instance_path)`` builds the app as
tests/conftest.py does, seeds the demo with every billing field editable and a second card for
Jenny, serves it on a free port, and empties the tables after the module, so the next test
starts from nothing as usual."""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from portal import create_app
from portal.customers.auth import SESSION_KEY, open_sign_in_session
from portal.customers.models import Customer
from portal.dbtypes import utcnow
from portal.demo import JENNY, _card, seed_demo
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.mailer import DevMail
from portal.outbox.delivery import drain
from portal.portal_settings.models import LoginLink
from portal.portal_settings.operations import default_configuration
from portal.subscriptions.models import Subscription
from tests.conftest import _empty_tables, base_config


@dataclass
class Demo:
    app: object
    url: str
    link: LoginLink
    jenny: Customer
    ids: dict  # Jenny's subscription, open and paid invoices, and removable card

    def sign_in(self, context, customer=None, via="portal_session"):
        """Give ``context`` the cookie of a signed-in customer (Jenny by default). A merchant-made
        portal session, so the email form is there too (a login link locks the address)."""
        customer = customer or self.jenny
        _, token = open_sign_in_session(customer.id, now=utcnow(), via=via)
        db.session.commit()
        value = self.app.session_interface.get_signing_serializer(self.app).dumps(
            {SESSION_KEY: token, "_permanent": True})
        context.add_cookies([{"name": self.app.config["SESSION_COOKIE_NAME"], "value": value,
                              "url": self.url}])


def htmx_ready(page) -> None:
    page.wait_for_function("() => window.htmx !== undefined")


def emailed_code(to: str) -> str:
    """The newest code in the development mailbox for ``to`` (the outbox is drained here: the
    module's app runs no delivery threads)."""
    deadline = time.monotonic() + 10
    while True:
        drain()
        db.session.expire_all()
        row = db.session.scalars(select(DevMail).where(DevMail.recipients == to)
                                 .order_by(DevMail.id.desc())).first()
        if row is not None:
            return re.search(r"^\s*(\d{6})\s*$", row.body_text, re.MULTILINE).group(1)
        assert time.monotonic() < deadline, "the passcode email never arrived"
        time.sleep(0.05)


@contextmanager
def module_demo(database_uri: str, instance_path: str):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PORTAL_INSTANCE_PATH", instance_path)
        # External worker: no delivery threads (the per-test autouse fixture stops them after
        # each test anyway); tests that need an email drain the outbox themselves. No rate
        # limits: one module signs in more often than a person would in ten minutes.
        app = create_app(base_config(database_uri, WORKER_MODE="external",
                                     RATELIMIT_ENABLED=False))
    with app.app_context():
        session = db.session
        link = seed_demo(session, now=utcnow())
        default_configuration(session).customer_update_allowed = [
            "address", "email", "name", "phone", "shipping", "tax_id"]
        session.commit()
        jenny = session.scalars(select(Customer).where(Customer.email == JENNY)
                                .order_by(Customer.created.desc())).first()
        # A second card, so the payment methods page has its "Make default" and "Remove"
        # buttons (the default card of an active subscription cannot be removed).
        card = _card(session, jenny, "5555555555554444", 8, utcnow().year + 3, jenny.created)
        session.commit()
        ids = {
            "subscription": session.scalars(select(Subscription.id).where(
                Subscription.customer_id == jenny.id, Subscription.status != "canceled")).one(),
            "open_invoice": session.scalars(select(Invoice.id).where(
                Invoice.customer_id == jenny.id, Invoice.status == "open")).first(),
            "paid_invoice": session.scalars(select(Invoice.id).where(
                Invoice.customer_id == jenny.id, Invoice.status == "paid")).first(),
            "card": card.id,
        }
        assert all(ids.values()), ids
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="demo-server", daemon=True)
        thread.start()
        try:
            yield Demo(app, f"http://127.0.0.1:{server.server_port}", link, jenny, ids)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
            db.session.remove()
            _empty_tables()
            db.engine.dispose()
