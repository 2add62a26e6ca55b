"""The Acme Cloud demo: what it seeds, that seeding twice changes nothing, and its login URL."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.demo import JENNY, seed_demo
from portal.extensions import db
from tests.fresh_database import fresh_database_app  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent


def snapshot() -> dict[str, list[dict]]:
    """Every row of every table, column by column, in primary-key order."""
    tables = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
        tables[table.name] = [dict(row) for row in rows]
    return tables


def assert_same_rows(before: dict, after: dict) -> None:
    for name in before:
        assert len(after[name]) == len(before[name]), f"{name}: row count changed"
        for old, new in zip(before[name], after[name], strict=True):
            changed = {k: (old[k], new[k]) for k in old if old[k] != new[k]}
            assert not changed, f"{name} row changed: {changed}"


def test_seeding_twice_leaves_exactly_the_data_seeding_once_left(app, session, now):
    seed_demo(session, now=now)
    session.commit()
    once = snapshot()
    assert all(once[name] for name in ("customer", "product", "price", "subscription",
                                       "invoice", "invoice_line", "payment", "payment_method",
                                       "branding", "login_link")), "the demo seeded nothing"

    # A day later, as someone running `flask demo` again would.
    seed_demo(session, now=now + timedelta(days=1))
    session.commit()
    session.expunge_all()
    assert_same_rows(once, snapshot())


def test_seeding_returns_the_same_active_login_link_every_time(app, session, now):
    first = seed_demo(session, now=now)
    session.commit()
    second = seed_demo(session, now=now + timedelta(hours=1))
    assert second.id == first.id
    assert second.active


# ---- the Jenny rule: two customers share an email; the newer one is the real one ---------------

@pytest.fixture
def seeded(app, session, now):
    seed_demo(session, now=now)
    session.commit()
    return session


def jennys(session):
    from portal.customers.models import Customer

    return session.scalars(select(Customer).where(Customer.email_normalized == JENNY)
                           .order_by(Customer.created)).all()


def test_two_customers_share_jennys_email_written_differently(seeded):
    older, newer = jennys(seeded)
    assert older.created < newer.created
    assert newer.email == JENNY
    assert older.email != JENNY and older.email.strip().lower() == JENNY


def test_the_newer_jenny_has_an_active_pro_subscription_and_the_older_none(seeded, now):
    older, newer = jennys(seeded)
    [subscription] = newer.subscriptions
    assert subscription.status == "active"
    assert subscription.current_period_start <= now < subscription.current_period_end
    [item] = subscription.items
    assert item.price.product.name == "Pro"
    assert (item.price.unit_amount, item.price.currency, item.price.recurring_interval) == (
        2900, "usd", "month")
    assert not any(s.is_live for s in older.subscriptions)


def test_the_newer_jenny_has_a_card_on_file(seeded):
    _, newer = jennys(seeded)
    card = newer.default_payment_method
    assert card is not None and card.customer_id == newer.id
    assert (card.card_brand, card.card_last4) == ("visa", "4242")
    assert card.processor_token.startswith("tok_test_")
    assert newer.subscriptions[0].default_payment_method_id == card.id


def test_the_newer_jenny_has_six_paid_invoices_and_one_open_for_the_current_period(seeded, now):
    _, newer = jennys(seeded)
    invoices = sorted(newer.invoices, key=lambda i: i.period_start)
    assert [i.status for i in invoices] == ["paid"] * 6 + ["open"]
    for invoice in invoices[:6]:
        assert invoice.amount_paid == invoice.total == 2900
        assert [p.status for p in invoice.payments] == ["succeeded"]
        assert invoice.period_end <= now
    open_invoice = invoices[-1]
    assert open_invoice.amount_due == 2900 and open_invoice.amount_paid == 0
    assert open_invoice.period_start <= now < open_invoice.period_end
    assert [p.status for p in open_invoice.payments] == ["failed"]
    # Consecutive periods, no gaps, numbered in order with the merchant's prefix.
    for earlier, later in zip(invoices, invoices[1:], strict=False):
        assert earlier.period_end == later.period_start
    numbers = [i.number for i in invoices]
    assert all(n.startswith("ACME-") for n in numbers)
    assert numbers == sorted(numbers)


def test_the_demo_has_a_catalog_branding_and_other_customers(seeded):
    from portal.catalog.models import Price
    from portal.customers.models import Customer
    from portal.portal_settings.operations import get_branding

    prices = seeded.scalars(select(Price)).all()
    offered = {(p.product.name, p.recurring_interval, p.currency) for p in prices}
    assert offered == {(name, interval, currency) for name in ("Starter", "Pro", "Team")
                       for interval in ("month", "year") for currency in ("usd", "eur")}
    branding = get_branding(seeded)
    assert branding.business_name == "Acme Cloud"
    others = seeded.scalars(select(Customer).where(Customer.email_normalized != JENNY)).all()
    assert len(others) >= 2


# ---- the command ------------------------------------------------------------------------------

@pytest.mark.usefixtures("fresh_database_app")
def test_demo_command_prints_a_login_url_that_answers():
    from flask import current_app

    result = current_app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    urls = re.findall(r"https?://\S+/p/login/\S+", result.output)
    assert len(urls) == 2, result.output
    client = current_app.test_client()
    for url in urls:
        parts = urlsplit(url)
        response = client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
        assert response.status_code == 200, f"{url} answered {response.status_code}"
    prefilled = client.get(urlsplit(urls[1]).path + "?" + urlsplit(urls[1]).query)
    assert JENNY in prefilled.get_data(as_text=True)


def _table_dump(path: Path) -> dict:
    connection = sqlite3.connect(path)
    try:
        names = [r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {name: connection.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall()
                for name in names}
    finally:
        connection.close()


def test_running_the_demo_command_twice_changes_no_row(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_INSTANCE_PATH"] = str(tmp_path)
    flask = str(Path(sys.executable).with_name("flask"))
    outputs = []
    dumps = []
    for _ in range(2):
        result = subprocess.run([flask, "--app", "portal", "demo"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
        dumps.append(_table_dump(tmp_path / "portal.db"))
    assert dumps[0]["customer"], "the demo seeded nothing"
    assert dumps[1] == dumps[0]
    # The same login URL both times: a URL already shared keeps working.
    assert re.findall(r"/p/login/\S+", outputs[0]) == re.findall(r"/p/login/\S+", outputs[1])
