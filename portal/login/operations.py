"""The rules of signing in with a login link and an emailed passcode.

The passcode itself lives only in the email. The database keeps a keyed HMAC of it and the
counters that matter (attempts, used, locked), so every app process sees the same state and a
replayed cookie, which names nothing but the passcode row, cannot restore anything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, exists, select, update
from sqlalchemy.orm import Session

from portal.customers.models import Customer, LoginPasscode, normalize_email
from portal.events import customer_actor, raise_event
from portal.ids import new_id
from portal.outbox.models import OutboxMessage
from portal.outbox.operations import enqueue_email
from portal.portal_settings.models import LoginLink, PortalConfiguration
from portal.subscriptions.models import LIVE_STATUSES, Subscription

CODE_DIGITS = 6
_LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class PasscodePolicy:
    """How long a passcode lives, how many tries it allows, and the key its HMAC is made with."""

    ttl_seconds: int
    max_attempts: int
    key: bytes

    @classmethod
    def from_config(cls, config) -> PasscodePolicy:
        """Read the policy from the app's configuration."""
        secret = config["SECRET_KEY"]
        secret = secret if isinstance(secret, bytes) else str(secret).encode()
        # A key of its own, so a passcode HMAC can never be confused with a session signature.
        key = hmac.new(secret, b"portal.login.passcode", hashlib.sha256).digest()
        return cls(ttl_seconds=int(config.get("PASSCODE_TTL_SECONDS", 600)),
                   max_attempts=int(config.get("PASSCODE_MAX_ATTEMPTS", 5)), key=key)


@dataclass(frozen=True)
class IssuedPasscode:
    passcode: LoginPasscode
    code: str
    customer: Customer | None  # None when nobody has the address: nothing is sent


class Outcome(Enum):
    SIGNED_IN = "signed_in"
    WRONG = "wrong"  # wrong code, tries left
    LOCKED = "locked"  # too many wrong codes
    EXPIRED = "expired"
    GONE = "gone"  # used already, replaced by a newer code, or never existed


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    customer: Customer | None = None
    attempts_left: int = 0


def active_login_link(session: Session, link_id: str) -> LoginLink | None:
    """The login link with ``link_id`` if it is switched on, else None."""
    # Anything else in the URL is not a link id (and a NUL byte would upset PostgreSQL).
    if not _LINK_ID.fullmatch(link_id or ""):
        return None
    link = session.get(LoginLink, link_id)
    if link is None or not link.active:
        return None
    configuration = (session.get(PortalConfiguration, link.configuration_id)
                     if link.configuration_id else None)
    # login_page.enabled = false on the configuration kills every link that points at it.
    if configuration is not None and not configuration.login_page_enabled:
        return None
    return link


def choose_customer(session: Session, email: str) -> Customer | None:
    """The customer an email signs in as: among customers with that address (trimmed,
    case-insensitive), the most recently created one with a live subscription (trialing,
    active or past_due), else the most recently created one."""
    normalized = normalize_email(email)
    if not normalized:
        return None
    has_live_subscription = exists().where(Subscription.customer_id == Customer.id,
                                           Subscription.status.in_(LIVE_STATUSES))
    return session.scalars(
        select(Customer)
        .where(Customer.email_normalized == normalized, Customer.deleted.is_not(True))
        .order_by(case((has_live_subscription, 1), else_=0).desc(), Customer.created.desc(),
                  Customer.id.desc())
        .limit(1)
    ).first()


def passcode_hmac(key: bytes, passcode_id: str, code: str) -> str:
    """The keyed HMAC stored for a code; bound to its row so it is useless anywhere else."""
    return hmac.new(key, f"{passcode_id}:{code}".encode(), hashlib.sha256).hexdigest()


def issue_passcode(session: Session, *, email: str, now: datetime, policy: PasscodePolicy,
                   ip_address: str | None = None, replaces: str | None = None) -> IssuedPasscode:
    """Make a new passcode for ``email``, whether or not a customer has it.

    Both cases do the same work and store a row, so neither the answer nor its timing says
    whether the address is known; only the caller's choice to send the email differs.
    ``replaces`` names the passcode this browser had before: it stops working.
    """
    customer = choose_customer(session, email)
    if replaces:
        _expire(session, replaces, now=now)
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    passcode_id = new_id("lpc")
    passcode = LoginPasscode(
        id=passcode_id,
        customer_id=customer.id if customer else None,
        email_normalized=normalize_email(email),
        code_hmac=passcode_hmac(policy.key, passcode_id, code),
        created=now,
        expires_at=now + timedelta(seconds=policy.ttl_seconds),
        attempts=0,
    )
    session.add(passcode)
    raise_event(session, "login.code_requested", now=now,
                actor=customer_actor(customer.id if customer else None),
                customer_id=customer.id if customer else None, object_id=passcode_id,
                ip_address=ip_address, data={"resend": bool(replaces)})
    session.flush()
    return IssuedPasscode(passcode=passcode, code=code, customer=customer)


def queue_passcode_email(session: Session, issued: IssuedPasscode, *, typed_email: str,
                         business_name: str, valid_for: str, now: datetime) -> OutboxMessage:
    """Queue the passcode's email in the caller's transaction, the code encrypted in the row.

    An address nobody has gets a row too, with deliver=false: the worker renders that email
    and drops it. Both cases store, encrypt and render the same, now and when the worker runs,
    so neither the answer's timing nor the load on the next requests tells who is a customer.
    """
    customer = issued.customer
    to = (customer.email if customer is not None else typed_email).strip()
    return enqueue_email(session, to=to, subject=_l("Your sign-in code for %(business_name)s",
                                                  business_name=business_name),
                         template="login_code", context={"valid_for": valid_for},
                         secret_context={"code": issued.code}, deliver=customer is not None,
                         expires_at=issued.passcode.expires_at, now=now)


def live_passcode(session: Session, passcode_id: str | None, *, now: datetime) -> LoginPasscode | None:
    """The passcode a browser's cookie names, if it can still be used or resent."""
    if not passcode_id:
        return None
    passcode = session.get(LoginPasscode, passcode_id)
    if passcode is None or passcode.used_at is not None:
        return None
    return passcode


def check_passcode(session: Session, *, passcode_id: str, code: str, now: datetime,
                   policy: PasscodePolicy, ip_address: str | None = None) -> CheckResult:
    """Check ``code`` against the passcode row; count the try in the database first.

    The try is counted with one conditional UPDATE, so parallel requests or an old cookie
    cannot get more than ``max_attempts`` tries, and a used code never works twice.
    """
    counted = session.execute(
        update(LoginPasscode)
        .where(LoginPasscode.id == passcode_id,
               LoginPasscode.used_at.is_(None),
               LoginPasscode.locked_at.is_(None),
               LoginPasscode.expires_at > now,
               LoginPasscode.attempts < policy.max_attempts)
        .values(attempts=LoginPasscode.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    passcode = session.get(LoginPasscode, passcode_id, populate_existing=True)
    if passcode is None:
        return CheckResult(Outcome.GONE)
    actor = customer_actor(passcode.customer_id)

    def rejected(reason: str, outcome: Outcome, attempts_left: int = 0) -> CheckResult:
        raise_event(session, "login.code_rejected", now=now, actor=actor,
                    customer_id=passcode.customer_id, object_id=passcode.id,
                    ip_address=ip_address, data={"reason": reason, "attempts": passcode.attempts})
        session.flush()
        return CheckResult(outcome, attempts_left=attempts_left)

    if not counted:
        if passcode.used_at is not None:
            return rejected("used", Outcome.GONE)
        if passcode.locked_at is not None or passcode.attempts >= policy.max_attempts:
            return rejected("locked", Outcome.LOCKED)
        return rejected("expired", Outcome.EXPIRED)

    matches = hmac.compare_digest(passcode.code_hmac,
                                  passcode_hmac(policy.key, passcode.id, code))
    if matches and passcode.customer_id is not None:
        # Mark it used only if nobody else did in the meantime: single use under concurrency.
        won = session.execute(
            update(LoginPasscode)
            .where(LoginPasscode.id == passcode.id, LoginPasscode.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        customer = session.get(Customer, passcode.customer_id)
        if won and customer is not None and not customer.deleted:
            session.refresh(passcode)
            _expire_others(session, passcode, now=now)
            raise_event(session, "login.signed_in", now=now, actor=actor,
                        customer_id=customer.id, object_id=passcode.id, ip_address=ip_address,
                        data={"attempts": passcode.attempts})
            session.flush()
            return CheckResult(Outcome.SIGNED_IN, customer=customer)
        return rejected("used", Outcome.GONE)

    attempts_left = max(policy.max_attempts - passcode.attempts, 0)
    if attempts_left > 0:
        return rejected("wrong", Outcome.WRONG, attempts_left)
    result = rejected("wrong", Outcome.LOCKED)
    passcode.locked_at = now
    raise_event(session, "login.locked", now=now, actor=actor,
                customer_id=passcode.customer_id, object_id=passcode.id,
                ip_address=ip_address, data={"attempts": passcode.attempts})
    session.flush()
    return result


def _expire(session: Session, passcode_id: str, *, now: datetime) -> None:
    """A replaced passcode expires now; its row stays for the audit trail."""
    session.execute(
        update(LoginPasscode)
        .where(LoginPasscode.id == passcode_id, LoginPasscode.used_at.is_(None),
               LoginPasscode.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


def _expire_others(session: Session, passcode: LoginPasscode, *, now: datetime) -> None:
    """Once the customer is in, codes still waiting for the same address are no longer needed."""
    session.execute(
        update(LoginPasscode)
        .where(LoginPasscode.email_normalized == passcode.email_normalized,
               LoginPasscode.id != passcode.id, LoginPasscode.used_at.is_(None),
               LoginPasscode.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
