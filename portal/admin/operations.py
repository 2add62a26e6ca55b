"""Staff accounts: making them, checking passwords, and naming staff in the audit log."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.admin.models import StaffUser
from portal.customers.models import normalize_email
from portal.events import raise_event

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024  # argon2 takes any length; this only bounds the work per attempt

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so a wrong address costs as long as a wrong
# password and the timing does not tell which addresses are staff.
_DUMMY_HASH = _hasher.hash("not a password anyone has")


class StaffRefused(ValueError):
    """The account cannot be made or changed as asked; the message says why."""


def staff_actor(staff: StaffUser) -> str:
    """How a staff member is named in the audit log: ``staff:stf_...``."""
    return f"staff:{staff.id}"


def check_password_rules(password: str) -> None:
    """Refuse passwords too short or too long to be used here."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise StaffRefused(f"Use a password of at least {PASSWORD_MIN_LENGTH} characters")
    if password != password.strip():
        raise StaffRefused("A password cannot begin or end with a space")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise StaffRefused(f"Use a password of at most {PASSWORD_MAX_LENGTH} characters")


def find_staff(session: Session, email: str) -> StaffUser | None:
    """The staff account with this email (compared case-insensitively), if any."""
    return session.scalars(
        select(StaffUser).where(StaffUser.email_normalized == normalize_email(email))
    ).first()


def create_staff(session: Session, email: str, password: str, *, now: datetime,
                 actor: str = "system") -> StaffUser:
    """Make a staff account with an argon2id hash of ``password``; refuse a taken email."""
    check_password_rules(password)
    if find_staff(session, email) is not None:
        raise StaffRefused(f"A staff account for {email} exists already")
    staff = StaffUser(email=email, email_normalized=normalize_email(email),
                      password_hash=_hasher.hash(password), active=True, created=now)
    session.add(staff)
    session.flush()
    raise_event(session, "staff.created", now=now, actor=actor, object_id=staff.id,
                data={"email": email})
    return staff


def set_password(session: Session, staff: StaffUser, password: str, *, now: datetime,
                 actor: str = "system") -> None:
    """Replace a staff member's password and end every session they have open."""
    from portal.admin.auth import end_all_sessions

    check_password_rules(password)
    staff.password_hash = _hasher.hash(password)
    end_all_sessions(session, staff, now=now)
    raise_event(session, "staff.password_changed", now=now, actor=actor, object_id=staff.id)


def authenticate(session: Session, email: str, password: str, *, now: datetime,
                 ip_address: str | None = None) -> StaffUser | None:
    """The active staff member whose email and password these are, or None; logs the attempt."""
    staff = find_staff(session, email) if len(password) <= PASSWORD_MAX_LENGTH else None
    try:
        _hasher.verify(staff.password_hash if staff else _DUMMY_HASH, password)
        ok = staff is not None and staff.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        raise_event(session, "staff.sign_in_failed", now=now, actor="visitor",
                    object_id=staff.id if staff else None, ip_address=ip_address)
        return None
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)  # parameters were raised since it was set
    staff.last_sign_in_at = now
    raise_event(session, "staff.signed_in", now=now, actor=staff_actor(staff),
                object_id=staff.id, ip_address=ip_address)
    return staff
