"""Fixtures for the catalog tests here and in tests/admin/test_catalog_*.py (imported by name,
as tests/subscriptions imports the browser fixtures)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from portal.catalog.models import Price, Product
from portal.events import AuditEvent


@pytest.fixture
def make_product(session, now):
    """``make_product(name, unit_label=None, prices=[(amount, currency, interval), ...])``."""
    def make(name="Team", *, unit_label=None, prices=((1500, "usd", "month"),), active=True,
             **fields):
        product = Product(name=name, unit_label=unit_label, active=active, created=now,
                          updated=now, metadata_={}, **fields)
        session.add(product)
        for amount, currency, interval in prices:
            session.add(Price(product=product, unit_amount=amount, currency=currency,
                              recurring_interval=interval, recurring_interval_count=1,
                              active=True, created=now, metadata_={}))
        session.commit()
        return product

    return make


@pytest.fixture
def catalog_events(session):
    """The audit log's product.* and price.* events, oldest first."""
    def of(*types):
        query = select(AuditEvent).where(
            AuditEvent.type.like("product.%") | AuditEvent.type.like("price.%"))
        if types:
            query = query.where(AuditEvent.type.in_(types))
        session.expire_all()
        return list(session.scalars(query.order_by(AuditEvent.created, AuditEvent.id)))

    return of


@pytest.fixture
def uploads(app):
    """The instance folder's uploads, where stored images land."""
    from portal.images import uploads_dir

    return uploads_dir(app.instance_path)


def upload(data: bytes, filename: str = "image.png"):
    """A file for a form post: (stream, filename), as Werkzeug's test client takes it."""
    return (io.BytesIO(data), filename)
