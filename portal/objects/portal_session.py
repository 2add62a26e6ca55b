"""Stripe's billing_portal.session object, from a PortalSession row.

The URL is known only when the session is made (only the token's digest is stored), so
``url`` is given by the caller that has it (the create call's answer, from
``CreatedPortalSession.url``). Afterwards it is null: Stripe shows a session's URL again, we
cannot rebuild it, and a URL that is used once and lives 5 minutes is of no use later.
"""

from __future__ import annotations

from portal.portal_settings.models import PortalSession

OBJECT = "billing_portal.session"


def serialize_portal_session(session, record: PortalSession, *, url: str | None = None) -> dict:
    """The session as Stripe's API answers it (timestamps as Unix seconds)."""
    return {
        "id": record.id,
        "object": OBJECT,
        "configuration": record.configuration_id,
        "created": int(record.created.timestamp()),
        "customer": record.customer_id,
        "customer_account": None,
        "after_expiration": None,
        "flow": record.flow,
        "livemode": False,
        "locale": record.locale,
        "on_behalf_of": None,
        "return_url": record.return_url,
        "url": url,
    }
