"""Every kind of bad value, in every field of every form route, plain and with htmx: never a
5xx, and a value the portal must refuse changes no row in any table.

Routes come from ``app.url_map``, so a new form route fails
test_every_form_route_has_its_fields_listed until it is added to FIELDS below.
"""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal.customers.models import TaxId
from portal.extensions import db
from portal.invoices.operations import new_form_key
from portal.request_guard import FORM_ROUTE_PREFIXES
from tests.conftest import HTMX_HEADERS
from tests.payments.cards import mm_yy


@pytest.fixture
def app_config():
    # Rate limits would answer 429 before the checks under test; mail waits in the outbox
    # (nothing in this process delivers it), so no background write lands between two
    # snapshots.
    return {"RATELIMIT_ENABLED": False, "WORKER_MODE": "external"}


# Form fields by endpoint, each with a value that is valid on its own: the bad value goes in
# one field while the others hold these, so only that field can make the form refuse.
def valid_fields(endpoint: str, world: dict) -> dict[str, str]:
    address = {"country": "US", "shown_country": "US", "line1": "27 Fredrick Ave",
               "line2": "Suite 2", "city": "Brothers", "state": "OR", "postal_code": "97712"}
    return {
        "login.enter_email": {"email": "jenny.rosen@example.com"},
        "login.enter_code": {"code": "123456"},
        "login.resend_code": {},
        "login.sign_out": {},
        "language.choose_language": {"language": "de", "next": "/p/"},
        "customers.update_name": {"name": "Jenny Q. Rosen"},
        "customers.update_email": {"email": "jenny.q@example.com"},
        "customers.update_phone": {"phone": "+1 415 555 0199"},
        "customers.update_address": {f"address-{k}": v for k, v in address.items()},
        "customers.update_shipping_address": {
            **{f"shipping-{k}": v for k, v in address.items()},
            "shipping-name": "Jenny Rosen", "shipping-phone": "+1 415 555 0100"},
        "customers.remove_shipping_address": {},
        "customers.add_tax_id": {"tax-id-type": "gb_vat", "tax-id-value": "GB980780684"},
        "customers.remove_tax_id": {},
        "payments.add_payment_method": {
            "name": "Jenny Rosen", "number": "5555 5555 5555 4444",
            "expiry": mm_yy(world["now"], 30), "cvc": "123", "postal_code": "97712",
            "make_default": "y"},
        "payments.make_default_payment_method": {},
        "payments.remove_payment_method": {},
        "invoices.pay_invoice": {"payment_method": world["card"].id,
                                 "idempotency_key": new_form_key()},
        "subscriptions.cancel_subscription": {"version": "1", "reason": "too_expensive",
                                              "comment": "Too dear for us"},
        "subscriptions.accept_offer": {"version": "1", "offer": "pause", "months": "1"},
        "subscriptions.renew_subscription": {"version": "1"},
        "subscriptions.confirm_change": {"version": "1", "quantity": "2",
                                         "price": world["subscription"].items[0].price_id},
        "subscriptions.cancel_scheduled_change": {"version": "1"},
    }[endpoint]


# Values every text field must refuse (a message by the field, 4xx, nothing stored).
REFUSED = {
    "nul": "Jen\x00ny",
    "start of heading": "Jen\x01ny",
    "backspace": "Jen\x08ny",
    "vertical tab": "Jen\x0bny",
    "escape": "Jen\x1b[31mny",
    "unit separator": "Jen\x1fny",
    "delete": "Jen\x7fny",
    "next line (C1)": "Jen\x85ny",
    "ten thousand characters": "x" * 10_000,
}
CHECKBOXES = {"make_default"}  # any value ticks a checkbox, so length means nothing there
# A country other than the one the fields were drawn for draws the form again for it (200),
# saving nothing.
REDRAWING = {f"{form}-{name}" for form in ("address", "shipping")
             for name in ("country", "shown_country")}

# Odd but harmless values: some are valid somewhere (a name may be "<script>"), so they may be
# saved; they must never give a 5xx, and never come back unescaped.
ODD = {
    "script": "<script>alert(1)</script>",
    "sql": "'; DROP TABLE customers; --",
    "right-to-left override": "\u202eJenny",
    "zero-width": "Jen\u200bny",
    "whitespace only": " \t ",
    "empty": "",
    "percent-encoded non-UTF-8": "%ff%fe",
    "superscript digit": "4242²",
    "full-width digits": "４２４２",
    "arabic-indic digits": "٤٢٤٢",
}


@pytest.fixture
def world(app, session, now, make_customer, sign_in, make_payment_method, make_invoice, client,
          make_subscription):
    """A signed-in customer with a card, an open invoice, a tax ID, both addresses, and a
    passcode on the way (so the code step has something to check)."""
    from portal.login.views import LOGIN_STATE
    from portal.portal_settings.operations import activate_login_link

    customer = make_customer(
        phone="+1 415 555 0100", address_line1="27 Fredrick Ave", address_city="Brothers",
        address_state="OR", address_postal_code="97712", address_country="US",
        shipping_name="Jenny Rosen", shipping_line1="1 Main St", shipping_city="Bend",
        shipping_state="OR", shipping_postal_code="97701", shipping_country="US")
    card = make_payment_method(customer)
    make_payment_method(customer, number="378282246310005", default=False)
    invoice = make_invoice(customer, status="open")
    subscription = make_subscription(customer, default_payment_method_id=card.id)
    tax_id = TaxId(customer_id=customer.id, type="eu_vat", value="DE123456788", country="DE",
                   created=now)
    session.add(tax_id)
    link = activate_login_link(session, now=now)
    session.commit()
    # Email can be changed only in a session the merchant opened.
    sign_in(customer, via="portal_session")
    response = client.post(f"/p/login/{link.id}", data={"email": "jenny.rosen@example.com"})
    assert response.status_code in (303, 200), response.status_code
    with client.session_transaction() as cookie:
        assert cookie.get(LOGIN_STATE)
    return {"customer": customer, "card": card, "invoice": invoice, "tax_id": tax_id,
            "link": link, "now": now, "subscription": subscription}


def form_rules(app):
    return sorted((rule for rule in app.url_map.iter_rules()
                   if rule.rule.startswith(FORM_ROUTE_PREFIXES)
                   and rule.methods & {"POST", "PUT", "PATCH", "DELETE"}),
                  key=lambda rule: rule.endpoint)


def url_for_rule(rule, world: dict, bad_id: str | None = None) -> str:
    ids = {"link_id": world["link"].id, "payment_method_id": world["card"].id,
           "invoice_id": world["invoice"].id, "tax_id_id": world["tax_id"].id,
           "subscription_id": world["subscription"].id}
    url = rule.rule
    for arg in rule.arguments:
        assert arg in ids, f"give the fuzz test an id for <{arg}>"
        url = url.replace(f"<{arg}>", bad_id if bad_id is not None else ids[arg])
    return url


def snapshot() -> dict:
    """Every row of every table, read on a connection of its own."""
    tables = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = []
            for row in conn.execute(select(table)).mappings():
                row = dict(row)
                row.pop("last_seen", None)  # a sign-in touched by a page view is fine
                rows.append(repr(sorted(row.items())))
            tables[table.name] = sorted(rows)
    return tables


def changed(before: dict, after: dict) -> dict:
    return {name: (set(after[name]) - set(rows), set(rows) - set(after[name]))
            for name, rows in before.items() if after[name] != rows}


class Fuzzer:
    def __init__(self, client, rule, world):
        self.client, self.rule, self.world = client, rule, world
        self.failures: list = []
        self.requests = 0
        self.last_snapshot = None  # what the tables held after the last refused request

    def send(self, what: str, *, refused: bool, redraws: bool = False, url: str | None = None,
             **kwargs):
        """Post twice (plain and htmx). ``refused``: must be a 4xx (or, with ``redraws``, the
        form drawn again) that changes no row."""
        for htmx in (False, True):
            before = (self.last_snapshot or snapshot()) if refused else None
            sent = dict(kwargs)
            if callable(sent.get("data")):  # a file can be read once: a new one each time
                sent["data"] = sent["data"]()
            response = self.client.post(url or url_for_rule(self.rule, self.world),
                                        headers=HTMX_HEADERS if htmx else {}, **sent)
            self.requests += 1
            body = response.get_data(as_text=True)
            label = (what, "htmx" if htmx else "plain", response.status_code)
            if response.status_code >= 500:
                self.failures.append((*label, body[:300]))
            elif "<script>alert(1)" in body:
                self.failures.append((*label, "unescaped <script> in the answer"))
            elif refused and not (400 <= response.status_code < 500
                                  or redraws and response.status_code == 200):
                self.failures.append((*label, "not refused"))
            if refused:
                after = self.last_snapshot = snapshot()
                if diff := changed(before, after):
                    self.failures.append((*label, diff))
            else:
                self.last_snapshot = None


FUZZED = [
    "login.enter_email", "login.enter_code", "login.resend_code", "login.sign_out",
    "customers.update_name", "customers.update_email", "customers.update_phone",
    "customers.update_address", "customers.update_shipping_address",
    "customers.remove_shipping_address", "customers.add_tax_id", "customers.remove_tax_id",
    "payments.add_payment_method", "payments.make_default_payment_method",
    "payments.remove_payment_method", "invoices.pay_invoice",
    "subscriptions.cancel_subscription", "subscriptions.accept_offer",
    "subscriptions.renew_subscription", "subscriptions.confirm_change",
    "subscriptions.cancel_scheduled_change", "language.choose_language",
]


def test_every_form_route_has_its_fields_listed(app, world):
    rules = form_rules(app)
    assert sorted(rule.endpoint for rule in rules) == sorted(FUZZED)
    for rule in rules:
        valid_fields(rule.endpoint, world)  # a KeyError names the route to add



@pytest.mark.parametrize("endpoint", FUZZED)
def test_bad_values_in_every_field_never_give_a_5xx_nor_change_a_row(app, client, world,
                                                                    endpoint):
    rule = next(rule for rule in form_rules(app) if rule.endpoint == endpoint)
    fuzz = Fuzzer(client, rule, world)
    fields = valid_fields(endpoint, world)

    # The body itself: JSON, a file, another type. Refused whatever the form holds.
    fuzz.send("json body", refused=True, data=json.dumps({**fields, "email": 5}),
              content_type="application/json")
    fuzz.send("json list", refused=True, data="[1, 2]", content_type="application/json")
    fuzz.send("plain text body", refused=True, data="name=Mallory", content_type="text/plain")
    fuzz.send("file", refused=True,
              data=lambda: {**fields, "upload": (io.BytesIO(b"\x00\xff binary"), "x.bin")})
    # An id that cannot be an id.
    if rule.arguments - {"link_id"}:
        for bad_id in ("a\x00b", "x" * 100, "in_é", "../etc"):
            fuzz.send(f"id {bad_id[:10]!r}", refused=True, url=url_for_rule(rule, world, bad_id),
                      data=fields)

    for name in fields:
        for kind, value in REFUSED.items():
            if kind == "ten thousand characters" and name in CHECKBOXES:
                continue
            fuzz.send(f"{name}: {kind}", refused=True, redraws=name in REDRAWING,
                      data={**fields, name: value})
        fuzz.send(f"{name}: a file", refused=True,
                  data=lambda name=name: {**fields, name: (io.BytesIO(b"Mallory"), "name.txt")})
    for kind, value in ODD.items():
        # In every field at once, and twice over (a list where one value is expected).
        fuzz.send(f"all fields: {kind}", refused=False,
                  data={**{name: value for name in fields}, "unexpected": value})
        fuzz.send(f"all fields twice: {kind}", refused=False,
                  data=MultiDict([(name, v) for name in fields for v in (fields[name], value)]))
    assert fuzz.requests > 10
    assert not fuzz.failures, fuzz.failures
