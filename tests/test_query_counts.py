"""Every customer page answers in a handful of queries, however much the customer has.

The customer here has several subscriptions (one with two items), cards (one removed since it
paid), tax IDs, and a dozen invoices with several lines, tax rates and payments. A page that
loaded something per row (each invoice line's tax rate, each payment's card, each item's
price and product) would show it here as a count that grows past the limit.

The count is of a second, identical request, as in steady state: the first one of a minute
also refreshes the sign-in's last_seen.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from portal.extensions import db

MAX_QUERIES = 6


@pytest.fixture
def app_config() -> dict:
    # No in-process outbox deliverer: its queries would be counted with the page's.
    return {"WORKER_MODE": "external"}


@pytest.fixture
def count_queries(app):
    """``count_queries(send)`` runs ``send()`` twice and returns the response and the
    statements the second run sent to the database."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)

    def run(send):
        send()
        statements.clear()
        response = send()
        return response, list(statements)

    yield run
    event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def rich_customer(session, now, make_customer, make_price, make_payment_method, sign_in):
    """A signed-in customer with a realistic history; returns ids the pages need."""
    from portal.catalog.models import TaxRate
    from portal.customers.models import TaxId
    from portal.invoices.models import Invoice, InvoiceLine
    from portal.payments.models import Payment
    from portal.portal_settings.operations import default_configuration, get_branding
    from portal.subscriptions.models import Subscription, SubscriptionItem

    branding = get_branding(session)
    branding.business_name = "Acme Cloud"
    configuration = default_configuration(session)
    configuration.terms_of_service_url = "https://acme.example/terms"
    configuration.default_return_url = "https://acme.example/account"

    customer = make_customer(phone="+1 415 555 0100", address_line1="27 Fredrick Ave",
                             address_city="Brothers", address_state="OR",
                             address_postal_code="97712", address_country="US",
                             shipping_name="Jenny Rosen", shipping_line1="1 Dock Road",
                             shipping_city="Portland", shipping_country="US",
                             shipping_state="OR", shipping_postal_code="97201")
    for value in ("12-3456789", "98-7654321"):
        session.add(TaxId(customer_id=customer.id, type="us_ein", value=value, country="US",
                          created=now))
    old_card = make_payment_method(customer, number="5555555555554444", default=False,
                                   created=now - timedelta(days=300))
    cards = [make_payment_method(customer, number="4000056655665556", default=False,
                                 created=now - timedelta(days=100)),
             make_payment_method(customer, number="378282246310005", default=False,
                                 exp_month=now.month, exp_year=now.year,
                                 created=now - timedelta(days=50)),
             make_payment_method(customer, default=True, created=now - timedelta(days=10))]
    old_card.customer_id, old_card.detached_at = None, now - timedelta(days=20)

    pro, team, addon = (make_price("Pro"), make_price("Team", unit_amount=1500, unit_label="seat"),
                        make_price("Extra storage", unit_amount=500))
    subscriptions = []
    for status, prices in (("active", [pro]), ("active", [team, addon]), ("trialing", [addon]),
                           ("canceled", [pro])):
        subscription = Subscription(customer_id=customer.id, status=status, currency="usd",
                                    current_period_start=now - timedelta(days=3),
                                    current_period_end=now + timedelta(days=27),
                                    collection_method="charge_automatically",
                                    default_payment_method_id=cards[-1].id,
                                    created=now - timedelta(days=200 - len(subscriptions)),
                                    metadata_={})
        for price in prices:
            subscription.items.append(SubscriptionItem(price=price, quantity=3, created=now))
        session.add(subscription)
        subscriptions.append(subscription)

    rates = [TaxRate(display_name="Sales tax", percentage=8, inclusive=False, active=True,
                     created=now, metadata_={}),
             TaxRate(display_name="City tax", percentage=2, inclusive=False, active=True,
                     created=now, metadata_={})]
    session.add_all(rates)
    session.flush()

    invoices = []
    for index in range(12):
        created = now - timedelta(days=30 * (12 - index))
        is_open = index == 11
        lines = [InvoiceLine(position=position, description=f"Line {position}", quantity=2,
                             unit_amount=1000, amount=2000, tax_amount=200,
                             tax_rate_id=rates[position % 2].id, price_id=pro.id,
                             period_start=created, period_end=created + timedelta(days=30))
                 for position in range(4)]
        invoice = Invoice(number=f"ACME-{index + 1:04d}", customer_id=customer.id,
                          subscription_id=subscriptions[index % 2].id,
                          status="open" if is_open else "paid", currency="usd",
                          subtotal=8000, tax=800, total=8800, amount_due=8800,
                          amount_paid=0 if is_open else 8800, created=created,
                          finalized_at=created, paid_at=None if is_open else created,
                          due_date=created + timedelta(days=7), period_start=created,
                          period_end=created + timedelta(days=30),
                          customer_snapshot={"name": customer.name, "email": customer.email},
                          metadata_={}, lines=lines)
        session.add(invoice)
        session.flush()
        # Failed tries with each card, the old one included, then success (or not yet).
        for attempt, card in enumerate([old_card, *cards[:2]]):
            session.add(Payment(idempotency_key=f"count:{invoice.id}:{attempt}",
                                customer_id=customer.id, invoice_id=invoice.id,
                                payment_method_id=card.id, amount=8800, currency="usd",
                                status="failed", failure_code="card_declined",
                                failure_message="Your card was declined.",
                                created=created + timedelta(minutes=attempt),
                                completed_at=created + timedelta(minutes=attempt)))
        if not is_open:
            session.add(Payment(idempotency_key=f"count:{invoice.id}:ok",
                                customer_id=customer.id, invoice_id=invoice.id,
                                payment_method_id=cards[-1].id, amount=8800, currency="usd",
                                status="succeeded", created=created + timedelta(minutes=9),
                                completed_at=created + timedelta(minutes=9)))
        invoices.append(invoice)
    session.commit()
    sign_in(customer)
    return {"customer": customer.id, "open_invoice": invoices[-1].id,
            "paid_invoice": invoices[3].id, "card": cards[0].id, "default_card": cards[-1].id}


SIGNED_IN_PAGES = [
    # (what, endpoint, values, htmx)
    ("the overview", "customers.overview", {}, False),
    ("billing information", "customers.billing_information", {}, False),
    ("the name form in place", "customers.edit_name", {}, True),
    ("the address form in place", "customers.edit_address", {}, True),
    ("payment methods", "payments.payment_methods", {}, False),
    ("payment methods in place", "payments.payment_methods", {}, True),
    ("the remove-card question", "payments.confirm_remove_payment_method",
     {"payment_method_id": "card"}, False),
    ("the remove-card question for the default card", "payments.confirm_remove_payment_method",
     {"payment_method_id": "default_card"}, True),
    ("the add-card form", "payments.add_payment_method", {}, False),
    ("the add-card form in place", "payments.add_payment_method", {}, True),
    ("invoice history", "invoices.invoice_history", {}, False),
    ("invoice history in place", "invoices.invoice_history", {}, True),
    ("an older page of invoice history", "invoices.invoice_history",
     {"after": "paid_invoice"}, False),
    ("an open invoice", "invoices.invoice_detail", {"invoice_id": "open_invoice"}, False),
    ("an open invoice's pay form in place", "invoices.invoice_detail",
     {"invoice_id": "open_invoice"}, True),
    ("a paid invoice", "invoices.invoice_detail", {"invoice_id": "paid_invoice"}, False),
]


@pytest.mark.parametrize(("what", "endpoint", "values", "htmx"), SIGNED_IN_PAGES,
                         ids=[page[0] for page in SIGNED_IN_PAGES])
def test_a_signed_in_page_takes_at_most_six_queries(what, endpoint, values, htmx, rich_customer,
                                                      client_request, count_queries):
    values = {name: rich_customer.get(value, value) for name, value in values.items()}
    response, statements = count_queries(
        lambda: client_request.get_response(endpoint, _htmx=htmx, **values))
    assert response.status_code == 200
    assert len(statements) <= MAX_QUERIES, f"{what}: {len(statements)} queries\n" + \
        "\n".join(statements)


@pytest.fixture
def login_link(session, now):
    from portal.portal_settings.operations import activate_login_link

    link = activate_login_link(session, now=now)
    session.commit()
    return link.id


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "in place"])
def test_the_login_email_step_takes_at_most_three_queries(login_link, client_request,
                                                           count_queries, htmx):
    response, statements = count_queries(lambda: client_request.get_response(
        "login.enter_email", link_id=login_link, _htmx=htmx))
    assert b"Send me a code" in response.data
    assert len(statements) <= 3, "\n".join(statements)


def test_the_login_code_step_takes_at_most_four_queries(login_link, customer, client_request,
                                                         count_queries):
    client_request.post_response("login.enter_email", link_id=login_link,
                                 _data={"email": customer.email})
    response, statements = count_queries(
        lambda: client_request.get_response("login.enter_code", link_id=login_link))
    assert b"code" in response.data
    assert len(statements) <= 4, "\n".join(statements)


def test_a_page_view_writes_nothing_while_the_sign_in_was_seen_this_minute(
        rich_customer, client_request, count_queries):
    _, statements = count_queries(lambda: client_request.get_response("customers.overview"))
    assert all(s.split()[0].upper() == "SELECT" for s in statements), "\n".join(statements)


def test_a_sign_in_through_a_portal_session_takes_no_more_queries(
        rich_customer, session, now, client, client_request, count_queries):
    from portal.customers.auth import SESSION_KEY, open_sign_in_session
    from portal.portal_settings.models import PortalSession

    portal_session = PortalSession(customer_id=rich_customer["customer"],
                                   return_url="https://acme.example/back", created=now,
                                   expires_at=now + timedelta(minutes=5), used_at=now)
    session.add(portal_session)
    session.flush()
    _, token = open_sign_in_session(rich_customer["customer"], now=now, via="portal_session",
                                    portal_session_id=portal_session.id)
    session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = token
    response, statements = count_queries(
        lambda: client_request.get_response("customers.billing_information"))
    assert b"https://acme.example/back" in response.data
    assert len(statements) <= 3, "\n".join(statements)
