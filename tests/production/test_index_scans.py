"""Every query behind a customer page finds its rows through an index, never by reading a table.

The customer walk (signing in, the overview, billing information and its edits, payment
methods, subscriptions, invoice history, an invoice, its PDFs, paying it) runs in-process
against the Acme Cloud demo; each statement it sends is captured with its parameters and
EXPLAINed. A table read row by row costs nothing here and grows with every customer and
invoice in production (bench/load.py measures that at a million invoices); the plan shows it
whatever the size.

On PostgreSQL the plans are made with ``enable_seqscan = off``, so the planner takes an index
wherever one fits and a "Seq Scan" means there is none; an index scan with no index condition
(reading a whole index to filter or to sort) counts as a table read too. On SQLite, EXPLAIN
QUERY PLAN must show SEARCH, never a full SCAN of a table.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import event, select

from portal.extensions import db

# Tables a full read is right for, each with why. Nothing else may be scanned.
EXEMPT_TABLES = {
    # Read for every event raised (a payment, a billing edit) to find who to send it to. The
    # merchant's own endpoints: a handful of rows (Stripe allows 16), so reading them all is
    # what PostgreSQL does whatever index there is.
    "webhook_endpoint": "the merchant's webhook endpoints, a handful of rows",
}

EXPLAINED_KINDS = ("SELECT", "WITH", "UPDATE", "DELETE", "INSERT")


@pytest.fixture
def app_config() -> dict:
    # The outbox waits for the worker: its polls are not part of a customer's walk.
    return {"WORKER_MODE": "external"}


class Captured(list):
    """The (statement, parameters) the app sent; ``paused`` while the test reads for itself."""

    paused = False


@pytest.fixture
def captured(app):
    """Every statement the app sends while the test runs, with its parameters."""
    statements = Captured()

    def record(conn, cursor, statement, parameters, context, executemany):
        if statements.paused:
            return
        if statement.lstrip().split(" ", 1)[0].upper() in EXPLAINED_KINDS:
            statements.append((statement, parameters[0] if executemany else parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    yield statements
    event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def demo(session, now):
    """The Acme Cloud demo seeded; returns the login link's id."""
    from portal.demo import seed_demo

    link = seed_demo(session, now=now)
    session.commit()
    return link.id


def _passcode_for(email: str) -> str:
    """The code in the newest queued sign-in email to ``email``, opened as the worker would."""
    from portal.outbox.models import OutboxMessage
    from portal.outbox.sealing import unseal

    rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.created.desc())).all()
    message = next(row for row in rows if row.payload.get("to") == email)
    code = unseal(message.payload["secret"])["code"]
    db.session.remove()
    return code


def _hidden(page: str, name: str) -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]*)"', page).group(1)


def walk_the_portal(client, link_id: str, captured: Captured) -> dict[str, int]:
    """Sign Jenny in through the login link and visit every page she can, changing her phone,
    name and address and paying her open invoice; returns each step's answer status."""
    from portal.customers.models import Customer
    from portal.demo import JENNY
    from portal.invoices.models import Invoice
    from portal.subscriptions.models import Subscription

    statuses: dict[str, int] = {}

    def visit(what, method, url, **kwargs):
        response = client.open(url, method=method, **kwargs)
        statuses[what] = response.status_code
        return response

    visit("login page", "GET", f"/p/login/{link_id}")
    visit("send a code", "POST", f"/p/login/{link_id}", data={"email": JENNY})
    visit("code page", "GET", f"/p/login/{link_id}/code")
    captured.paused = True
    code = _passcode_for(JENNY)
    captured.paused = False
    visit("enter the code", "POST", f"/p/login/{link_id}/code", data={"code": code})

    captured.paused = True
    jenny = db.session.scalars(select(Customer).where(Customer.email_normalized == JENNY)
                               .order_by(Customer.created.desc())).first()
    invoices = db.session.scalars(select(Invoice).where(Invoice.customer_id == jenny.id)
                                  .order_by(Invoice.created.desc())).all()
    open_invoice = next(i for i in invoices if i.status == "open")
    paid = [i for i in invoices if i.status == "paid"]
    subscription = db.session.scalars(select(Subscription)
                                      .where(Subscription.customer_id == jenny.id)).first()
    card = jenny.default_payment_method_id
    db.session.remove()
    captured.paused = False

    for what, url in [
        ("overview", "/p/"),
        ("billing information", "/p/billing-information"),
        ("name form", "/p/billing-information/name"),
        ("phone form", "/p/billing-information/phone"),
        ("address form", "/p/billing-information/address"),
        ("shipping address form", "/p/billing-information/shipping-address"),
        ("payment methods", "/p/payment-methods"),
        ("add-card form", "/p/payment-methods/new"),
        ("remove-card question", f"/p/payment-methods/{card}/remove"),
        ("subscriptions", "/p/subscriptions"),
        ("a subscription", f"/p/subscriptions/{subscription.id}"),
        ("cancel offers", f"/p/subscriptions/{subscription.id}/cancel"),
        ("change plan", f"/p/subscriptions/{subscription.id}/change"),
        ("invoice history", "/p/invoices"),
        ("invoice history in place", "/p/invoices"),
        ("an older page of invoices", f"/p/invoices?after={paid[1].id}"),
        ("a newer page of invoices", f"/p/invoices?before={paid[-1].id}"),
        ("an open invoice", f"/p/invoices/{open_invoice.id}"),
        ("a paid invoice", f"/p/invoices/{paid[0].id}"),
        ("an invoice PDF", f"/p/invoices/{open_invoice.id}/invoice.pdf"),
        ("a receipt PDF", f"/p/invoices/{paid[0].id}/receipt.pdf"),
    ]:
        visit(what, "GET", url)
    visit("change the phone", "POST", "/p/billing-information/phone",
          data={"phone": "+1 415 555 0199"})
    visit("change the name", "POST", "/p/billing-information/name", data={"name": "Jenny R."})
    visit("change the address", "POST", "/p/billing-information/address", data={
        "address-country": "US", "address-line1": "28 Fredrick Ave", "address-city": "Brothers",
        "address-state": "OR", "address-postal_code": "97712"})
    page = visit("the invoice to pay", "GET", f"/p/invoices/{open_invoice.id}").get_data(True)
    visit("pay it", "POST", f"/p/invoices/{open_invoice.id}/pay", data={
        "payment_method": card, "idempotency_key": _hidden(page, "idempotency_key")})
    visit("the paid invoice", "GET", f"/p/invoices/{open_invoice.id}")
    visit("sign out", "POST", "/p/sign-out")
    visit("signed out", "GET", "/p/signed-out")
    return statuses


def _postgresql_table_reads(plan: dict) -> list[str]:
    """The nodes of a JSON plan that read a whole table or a whole index."""
    found = []
    node_type = plan.get("Node Type", "")
    relation = plan.get("Relation Name")
    if node_type == "Seq Scan":
        found.append(f"Seq Scan on {relation}")
    elif node_type in ("Index Scan", "Index Only Scan", "Bitmap Index Scan") \
            and "Index Cond" not in plan:
        found.append(f"{node_type} without a condition: {plan.get('Index Name')} on {relation}")
    for child in plan.get("Plans", []):
        found += _postgresql_table_reads(child)
    return [read for read in found if not any(f" on {t}" in read for t in EXEMPT_TABLES)]


def _sqlite_table_reads(rows) -> list[str]:
    """The EXPLAIN QUERY PLAN lines that read a whole table (or a whole index of it)."""
    found = []
    for row in rows:
        detail = row[-1]
        match = re.match(r"SCAN (\w+)", detail)
        if match and match.group(1) not in EXEMPT_TABLES and match.group(1) != "CONSTANT":
            found.append(detail)
    return found


def table_reads(statements) -> dict[str, list[str]]:
    """Each captured statement that reads a whole table, with the reads its plan shows."""
    problems: dict[str, list[str]] = {}
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        postgresql = db.engine.dialect.name == "postgresql"
        if postgresql:
            cursor.execute("SET enable_seqscan = off")
        for statement, parameters in statements:
            if postgresql:
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                reads = _postgresql_table_reads(plan[0]["Plan"])
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                reads = _sqlite_table_reads(cursor.fetchall())
            if reads:
                problems[" ".join(statement.split())] = reads
        connection.rollback()
    finally:
        connection.close()
    return problems


def test_the_customer_walk_reaches_every_page_it_means_to(demo, client, captured):
    statuses = walk_the_portal(client, demo, captured)
    assert {what: status for what, status in statuses.items()
            if status not in (200, 303)} == {}
    assert statuses["enter the code"] == 303 and statuses["pay it"] == 303


def test_no_query_behind_a_customer_page_reads_a_whole_table(demo, client, captured):
    walk_the_portal(client, demo, captured)
    assert len(captured) > 50
    problems = table_reads(captured)
    assert problems == {}, "\n\n".join(f"{statement}\n  -> {'; '.join(reads)}"
                                       for statement, reads in problems.items())
