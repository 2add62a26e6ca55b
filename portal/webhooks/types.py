"""The event types merchants can subscribe a webhook endpoint to, and their objects."""

from __future__ import annotations

# Stripe's names; each is raised by the operation that makes the change (see the tests in
# tests/webhooks/test_event_types.py for which one).
WEBHOOK_EVENT_TYPES: tuple[str, ...] = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.voided",
    "payment_method.attached",
    "payment_method.detached",
    "billing_portal.configuration.created",
    "billing_portal.configuration.updated",
    "billing_portal.session.created",
)
WEBHOOK_TYPES = frozenset(WEBHOOK_EVENT_TYPES)
ALL_EVENTS = "*"

# The Stripe ``object`` of each type's ``data.object``, by the type's prefix (longest first).
_OBJECT_BY_PREFIX = (
    ("customer.subscription.", "subscription"),
    ("billing_portal.configuration.", "billing_portal.configuration"),
    ("billing_portal.session.", "billing_portal.session"),
    ("payment_method.", "payment_method"),
    ("invoice.", "invoice"),
    ("customer.", "customer"),
)


def is_webhook_type(event_type: str) -> bool:
    """True for the types a webhook endpoint can ask for."""
    return event_type in WEBHOOK_TYPES


def object_type_for(event_type: str) -> str:
    """The Stripe ``object`` name of ``event_type``'s object: "customer.subscription.updated"
    -> "subscription"."""
    for prefix, name in _OBJECT_BY_PREFIX:
        if event_type.startswith(prefix):
            return name
    raise ValueError(f"not a webhook event type: {event_type}")


def wants(enabled_events: list[str] | None, event_type: str) -> bool:
    """Whether an endpoint with ``enabled_events`` is sent ``event_type``."""
    events = enabled_events or []
    return ALL_EVENTS in events or event_type in events
