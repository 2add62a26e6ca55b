"""Upgrading a database that already holds copies of a card or a tax ID (saved by parallel
requests before the unique indexes existed) keeps the oldest of each and then builds the
indexes, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from tests.fresh_database import fresh_database_app  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("fresh_database_app")

BEFORE = "d679826ba79d"
REVISION = "3ee12f32eb82"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

# The tables as they are at BEFORE, so later model changes cannot break these inserts.
meta = sa.MetaData()
customer = sa.Table("customer", meta, sa.Column("id"), sa.Column("preferred_locales", sa.JSON),
                    sa.Column("deleted"), sa.Column("created", sa.DateTime),
                    sa.Column("metadata", sa.JSON), sa.Column("default_payment_method_id"))
payment_method = sa.Table(
    "payment_method", meta, sa.Column("id"), sa.Column("customer_id"), sa.Column("type"),
    sa.Column("card_brand"), sa.Column("card_last4"), sa.Column("card_exp_month"),
    sa.Column("card_exp_year"), sa.Column("fingerprint"), sa.Column("processor"),
    sa.Column("processor_token"), sa.Column("created", sa.DateTime),
    sa.Column("detached_at", sa.DateTime), sa.Column("metadata", sa.JSON))
subscription = sa.Table(
    "subscription", meta, sa.Column("id"), sa.Column("customer_id"), sa.Column("status"),
    sa.Column("currency"), sa.Column("current_period_start", sa.DateTime),
    sa.Column("current_period_end", sa.DateTime), sa.Column("cancel_at_period_end"),
    sa.Column("collection_method"), sa.Column("created", sa.DateTime),
    sa.Column("metadata", sa.JSON), sa.Column("default_payment_method_id"))
tax_id = sa.Table("tax_id", meta, sa.Column("id"), sa.Column("customer_id"), sa.Column("type"),
                  sa.Column("value"), sa.Column("country"), sa.Column("created", sa.DateTime))
audit_event = sa.Table("audit_event", meta, sa.Column("type"), sa.Column("object_id"),
                       sa.Column("actor"), sa.Column("data", sa.JSON))


def _naive(moment: datetime) -> datetime:
    # How UTCDateTime stores on SQLite; PostgreSQL takes it as UTC all the same.
    return moment.replace(tzinfo=None)


def _card(id_, customer_id, *, days, fingerprint="fp_4242", exp=(12, 2030), detached=False):
    return dict(id=id_, customer_id=None if detached else customer_id, type="card",
                card_brand="visa", card_last4="4242", card_exp_month=exp[0],
                card_exp_year=exp[1], fingerprint=fingerprint, processor="test",
                processor_token=f"tok_{id_}", created=_naive(T0 + timedelta(days=days)),
                detached_at=_naive(T0) if detached else None, metadata={})


@pytest.fixture
def copies():
    """Jenny's Visa saved three times, plus cards and tax IDs that are not copies."""
    upgrade(revision=BEFORE)
    with db.engine.begin() as conn:
        for id_ in ("cus_jenny", "cus_other"):
            conn.execute(customer.insert().values(id=id_, preferred_locales=[], deleted=False,
                                                  created=_naive(T0), metadata={}))
        conn.execute(payment_method.insert(), [
            _card("pm_first", "cus_jenny", days=1),
            _card("pm_second", "cus_jenny", days=2),
            _card("pm_third", "cus_jenny", days=3),
            # Not copies of a live card: removed already, renewed expiry, someone else's, and
            # a card the processor gave no fingerprint.
            _card("pm_removed", "cus_jenny", days=0, detached=True),
            _card("pm_renewed", "cus_jenny", days=4, exp=(12, 2033)),
            _card("pm_others", "cus_other", days=1),
            _card("pm_nofp_a", "cus_jenny", days=5, fingerprint=None),
            _card("pm_nofp_b", "cus_jenny", days=6, fingerprint=None),
        ])
        conn.execute(customer.update().where(customer.c.id == "cus_jenny")
                     .values(default_payment_method_id="pm_second"))
        conn.execute(subscription.insert().values(
            id="sub_1", customer_id="cus_jenny", status="active", currency="usd",
            current_period_start=_naive(T0), current_period_end=_naive(T0 + timedelta(days=30)),
            cancel_at_period_end=False, collection_method="charge_automatically",
            created=_naive(T0), metadata={}, default_payment_method_id="pm_third"))
        conn.execute(tax_id.insert(), [
            dict(id="txi_first", customer_id="cus_jenny", type="eu_vat", value="DE136695976",
                 country="DE", created=_naive(T0 + timedelta(days=1))),
            dict(id="txi_copy1", customer_id="cus_jenny", type="eu_vat", value="DE136695976",
                 country="DE", created=_naive(T0 + timedelta(days=2))),
            dict(id="txi_copy2", customer_id="cus_jenny", type="eu_vat", value="DE136695976",
                 country="DE", created=_naive(T0 + timedelta(days=3))),
            dict(id="txi_gb", customer_id="cus_jenny", type="gb_vat", value="GB980780684",
                 country="GB", created=_naive(T0)),
            dict(id="txi_others", customer_id="cus_other", type="eu_vat", value="DE136695976",
                 country="DE", created=_naive(T0)),
        ])


def _rows(conn, table, *columns):
    return set(conn.execute(sa.select(*(table.c[c] for c in columns))).all())


def test_upgrading_keeps_the_oldest_copy_of_a_card_and_points_everything_at_it(copies):
    upgrade(revision=REVISION)
    with db.engine.connect() as conn:
        live = {row.id for row in conn.execute(sa.select(payment_method.c.id).where(
            payment_method.c.customer_id == "cus_jenny"))}
        assert live == {"pm_first", "pm_renewed", "pm_nofp_a", "pm_nofp_b"}
        # The copies stay, detached, for the payments that may name them.
        assert _rows(conn, payment_method, "id", "customer_id") >= {
            ("pm_second", None), ("pm_third", None), ("pm_others", "cus_other")}
        assert conn.execute(sa.select(payment_method.c.id).where(
            payment_method.c.detached_at.is_(None), payment_method.c.customer_id.is_(None))
        ).all() == []
        assert conn.execute(sa.select(customer.c.default_payment_method_id).where(
            customer.c.id == "cus_jenny")).scalar() == "pm_first"
        assert conn.execute(sa.select(subscription.c.default_payment_method_id)).scalar() \
            == "pm_first"
        events = conn.execute(sa.select(audit_event).where(
            audit_event.c.type == "payment_method.detached")).all()
        assert sorted(e.object_id for e in events) == ["pm_second", "pm_third"]
        assert {e.actor for e in events} == {"system"}
        assert {e.data["duplicate_of"] for e in events} == {"pm_first"}


def test_upgrading_keeps_the_oldest_copy_of_a_tax_id(copies):
    upgrade(revision=REVISION)
    with db.engine.connect() as conn:
        assert _rows(conn, tax_id, "id") == {("txi_first",), ("txi_gb",), ("txi_others",)}
        events = conn.execute(sa.select(audit_event).where(
            audit_event.c.type == "customer.tax_id.deleted")).all()
        assert sorted(e.object_id for e in events) == ["txi_copy1", "txi_copy2"]


@pytest.mark.parametrize("table, row", [
    (payment_method, _card("pm_again", "cus_jenny", days=9)),
    (tax_id, dict(id="txi_again", customer_id="cus_jenny", type="eu_vat", value="DE136695976",
                  country="DE", created=_naive(T0))),
], ids=["card", "tax-id"])
def test_after_upgrading_the_database_refuses_a_new_copy(copies, table, row):
    upgrade(revision=REVISION)
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(table.insert().values(**row))


def test_downgrading_drops_the_indexes_again(copies):
    upgrade(revision=REVISION)
    downgrade(revision=BEFORE)
    with db.engine.begin() as conn:
        conn.execute(payment_method.insert().values(**_card("pm_again", "cus_jenny", days=9)))
        conn.execute(tax_id.insert().values(id="txi_again", customer_id="cus_jenny",
                                            type="eu_vat", value="DE136695976", country="DE",
                                            created=_naive(T0)))
    names = {ix["name"] for ix in sa.inspect(db.engine).get_indexes("payment_method")}
    assert "uq_payment_method_live_card" not in names
