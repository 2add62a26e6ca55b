"""The data every bench measures against: the Acme Cloud demo, with Jenny signed in.

Not a bench itself; the scripts beside it import it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignedInDemo:
    link_id: str  # the login link, for the login page
    invoice_id: str  # Jenny's open invoice
    token: str  # the session cookie's sign-in token: put it under SESSION_KEY


def seed_signed_in_demo() -> SignedInDemo:
    """Build the schema, seed the demo and sign Jenny in, inside the current app context.

    create_all rather than the migrations: the benches measure pages, and must run while a
    feature's model is ahead of the committed migration.
    """
    from sqlalchemy import select

    from portal.customers.auth import open_sign_in_session
    from portal.customers.models import Customer
    from portal.dbtypes import utcnow
    from portal.demo import JENNY, seed_demo
    from portal.extensions import db
    from portal.invoices.models import Invoice

    db.create_all()
    now = utcnow()
    link = seed_demo(db.session, now=now)
    db.session.commit()
    jenny = db.session.scalars(select(Customer).where(Customer.email_normalized == JENNY)
                               .order_by(Customer.created.desc())).first()
    invoice = db.session.scalars(select(Invoice).where(Invoice.customer_id == jenny.id,
                                                       Invoice.status == "open")).first()
    _, token = open_sign_in_session(jenny.id, now=now)
    db.session.commit()
    return SignedInDemo(link.id, invoice.id, token)
