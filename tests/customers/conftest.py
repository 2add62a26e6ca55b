"""Fixtures for the overview and billing information tests."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.customers.models import Customer, SignInSession
from portal.events import AuditEvent
from portal.extensions import db
from portal.portal_settings.operations import default_configuration

ALL_SECTIONS = ["address", "email", "name", "phone", "shipping", "tax_id"]


@pytest.fixture
def configuration(session):
    """The default portal configuration, which a signed-in customer without one gets."""
    config = default_configuration(session)
    session.commit()
    return config


@pytest.fixture
def allow(configuration, session):
    """``allow("name", "phone")``: the merchant lets customers change only these sections."""

    def set_allowed(*sections, enabled=True):
        configuration.customer_update_enabled = enabled
        configuration.customer_update_allowed = list(sections)
        session.commit()
        return configuration

    return set_allowed


@pytest.fixture
def us_customer(make_customer, sign_in):
    """A signed-in customer with a US billing address."""
    customer = make_customer(
        phone="+1 415 555 0100", address_line1="27 Fredrick Ave", address_city="Brothers",
        address_state="OR", address_postal_code="97712", address_country="US")
    return sign_in(customer)


@pytest.fixture
def portal_session_customer(make_customer, sign_in, session):
    """A customer signed in through a merchant's portal session (email may be changeable)."""
    customer = sign_in(make_customer(), via="portal_session")
    return customer


@pytest.fixture
def customer_row():
    """The customer's row as committed in the database, read on a connection of its own."""

    def read(customer_id: str) -> dict:
        table = Customer.__table__
        with db.engine.connect() as conn:
            return dict(conn.execute(select(table).where(table.c.id == customer_id))
                        .mappings().one())

    return read


@pytest.fixture
def events(session):
    """The audit events of one type, oldest first."""

    def of_type(event_type: str) -> list[AuditEvent]:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.type == event_type)
                                    .order_by(AuditEvent.created, AuditEvent.id)))

    return of_type


@pytest.fixture
def sign_in_record(session):
    def latest(customer) -> SignInSession:
        return session.scalars(select(SignInSession)
                               .where(SignInSession.customer_id == customer.id)
                               .order_by(SignInSession.created.desc())).first()

    return latest
