"""Reading the audit log: every business event, newest first, narrowed by filters, a page at a
time. Writing it is ``portal.events.raise_event``'s job alone.

Actors are strings: ``staff:stf_...`` (a staff member in the dashboard), ``customer:cus_...``
(a customer acting for themselves), ``system`` (the billing engine, the worker), ``visitor``
(someone not signed in), and ``merchant`` in events written before staff accounts existed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, literal, or_, select
from sqlalchemy.orm import Session

from portal.customers.models import Customer, normalize_email
from portal.events import AuditEvent

PAGE_SIZE = 50
RECENT = 10
PREFIX_MARK = ".*"  # "customer.subscription.*" is every event whose type starts so
# Who did it, as the filter offers it: the value and what each matches.
WHO = ("any", "staff", "customers", "system", "visitor")
# Never shown, whatever an event's data holds (raise_event strips these when writing; an event
# written another way, or a key a later feature adds, is caught here too).
_SECRET_KEYS = frozenset({"code", "number", "key"})  # exact keys: "failure_code" is no secret
_SECRET_PARTS = ("password", "passcode", "secret", "token", "cvc", "card_number", "api_key")


@dataclass(frozen=True)
class AuditFilters:
    """What to narrow the log to; every field is optional."""

    event_type: str | None = None  # an exact type, or a prefix ending in ".*"
    who: str = "any"
    customer: str | None = None  # a customer's id (cus_...) or email address
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    has_newer: bool
    has_older: bool

    @property
    def newer_cursor(self) -> str | None:
        return self.events[0].id if self.has_newer and self.events else None

    @property
    def older_cursor(self) -> str | None:
        return self.events[-1].id if self.has_older and self.events else None


def actor_parts(actor: str | None) -> tuple[str, str | None]:
    """("staff", "stf_..."), ("customer", "cus_..."), or (actor, None) for the rest."""
    kind, _, ident = (actor or "").partition(":")
    if kind in ("staff", "customer") and ident:
        return kind, ident
    return actor or "", None


def is_customer_id(value: str) -> bool:
    """True for a customer's id as the portal makes them (``cus_`` and letters and digits)."""
    rest = value.removeprefix("cus_")
    return value.startswith("cus_") and 0 < len(rest) <= 60 and rest.isascii() and rest.isalnum()


def event_types(session: Session) -> list[str]:
    """Every event type in the log, sorted: what the type filter can offer."""
    return list(session.scalars(select(AuditEvent.type).distinct().order_by(AuditEvent.type)))


def type_prefixes(types: Iterable[str]) -> list[str]:
    """The dotted prefixes that group two types or more, as filter values:
    ``customer.subscription.*`` for customer.subscription.updated and .deleted."""
    counts: dict[str, int] = {}
    for event_type in set(types):
        parts = event_type.split(".")
        for end in range(1, len(parts)):
            prefix = ".".join(parts[:end])
            counts[prefix] = counts.get(prefix, 0) + 1
    return [prefix + PREFIX_MARK for prefix in sorted(counts) if counts[prefix] >= 2]


def _conditions(filters: AuditFilters) -> list:
    found = []
    if filters.event_type:
        if filters.event_type.endswith(PREFIX_MARK):
            prefix = filters.event_type.removesuffix("*")
            found.append(AuditEvent.type.startswith(prefix, autoescape=True))
        else:
            found.append(AuditEvent.type == filters.event_type)
    if filters.who == "staff":
        found.append(or_(AuditEvent.actor.startswith("staff:", autoescape=True),
                         AuditEvent.actor == "merchant"))
    elif filters.who == "customers":
        found.append(AuditEvent.actor.startswith("customer:", autoescape=True))
    elif filters.who in ("system", "visitor"):
        found.append(AuditEvent.actor == filters.who)
    elif filters.who != "any":
        raise ValueError(f"unknown who filter {filters.who!r}")
    if filters.customer:
        if is_customer_id(filters.customer):
            found.append(or_(AuditEvent.customer_id == filters.customer,
                             AuditEvent.actor == f"customer:{filters.customer}"))
        else:
            ids = select(Customer.id).where(
                Customer.email_normalized == normalize_email(filters.customer))
            found.append(or_(AuditEvent.customer_id.in_(ids),
                             AuditEvent.actor.in_(select(literal("customer:") + Customer.id)
                                                  .where(Customer.email_normalized
                                                         == normalize_email(filters.customer)))))
    if filters.since is not None:
        found.append(AuditEvent.created >= filters.since)
    if filters.until is not None:
        found.append(AuditEvent.created < filters.until)
    return found


def audit_page(session: Session, filters: AuditFilters = AuditFilters(), *,
               after: str | None = None, before: str | None = None,
               limit: int = PAGE_SIZE) -> AuditPage:
    """One page of events matching ``filters``, newest first, by keyset on (created, id).

    ``after`` gives the page older than that event, ``before`` the page newer than it; a
    cursor naming no event is ignored (the newest page), as a made-up one would be."""
    base = select(AuditEvent).where(*_conditions(filters))
    cursor_id = after or before
    cursor = session.get(AuditEvent, cursor_id) if cursor_id and len(cursor_id) <= 40 else None
    if cursor is not None and after:
        rows = session.scalars(
            base.where(or_(AuditEvent.created < cursor.created,
                           and_(AuditEvent.created == cursor.created, AuditEvent.id < cursor.id)))
            .order_by(AuditEvent.created.desc(), AuditEvent.id.desc()).limit(limit + 1)
        ).all()
        return AuditPage(list(rows[:limit]), has_newer=True, has_older=len(rows) > limit)
    if cursor is not None:
        rows = session.scalars(
            base.where(or_(AuditEvent.created > cursor.created,
                           and_(AuditEvent.created == cursor.created, AuditEvent.id > cursor.id)))
            .order_by(AuditEvent.created.asc(), AuditEvent.id.asc()).limit(limit + 1)
        ).all()
        return AuditPage(list(reversed(rows[:limit])), has_newer=len(rows) > limit,
                         has_older=True)
    rows = session.scalars(
        base.order_by(AuditEvent.created.desc(), AuditEvent.id.desc()).limit(limit + 1)
    ).all()
    return AuditPage(list(rows[:limit]), has_newer=False, has_older=len(rows) > limit)


def recent_events(session: Session, limit: int = RECENT) -> list[AuditEvent]:
    """The latest ``limit`` events, newest first."""
    return audit_page(session, limit=limit).events


def customer_emails(session: Session, customer_ids: Iterable[str]) -> dict[str, str | None]:
    """Customer id -> email for the ids given, in one query."""
    wanted = sorted({i for i in customer_ids if i})
    if not wanted:
        return {}
    return dict(session.execute(select(Customer.id, Customer.email)
                                .where(Customer.id.in_(wanted))).all())


def customer_ids_of(events: Iterable[AuditEvent]) -> set[str]:
    """The customers a page of events names, as the event's customer or as its actor."""
    found = set()
    for event in events:
        if event.customer_id:
            found.add(event.customer_id)
        kind, ident = actor_parts(event.actor)
        if kind == "customer":
            found.add(ident)
    return found


def is_secret_key(key: str) -> bool:
    """True for a data key that could hold a secret (a code, a card number, a token)."""
    lowered = str(key).lower()
    return lowered in _SECRET_KEYS or any(part in lowered for part in _SECRET_PARTS)


def shown_data(data: dict | None, *, max_length: int = 120) -> list[tuple[str, str]]:
    """An event's data as (key, text) pairs fit to show: no secret-like key, long values cut."""
    shown = []
    for key, value in sorted((data or {}).items(), key=lambda pair: str(pair[0])):
        if is_secret_key(key):
            continue
        text = "" if value is None else str(value)
        if len(text) > max_length:
            text = text[: max_length - 1] + "…"
        shown.append((str(key), text))
    return shown
