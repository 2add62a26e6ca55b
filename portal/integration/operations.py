"""Creating, listing, revoking and checking secret API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.events import raise_event
from portal.integration.models import ApiKey

PREFIX = "sk_live_"
_ALPHABET = string.ascii_letters + string.digits
_KEY_LENGTH = 48
# A key's last use is written at most this often: not a write per API request.
_LAST_USED_EVERY = timedelta(minutes=1)


class ApiKeyRefused(ValueError):
    """A key could not be made or revoked, with the reason in plain words."""


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``secret`` is shown this once and never again."""

    key: ApiKey
    secret: str


def digest(secret: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def redact(secret: str) -> str:
    """``sk_live_...wxyz``: enough to tell keys apart, never enough to use one."""
    return f"{PREFIX}...{secret[-4:]}"


def create_key(session: Session, *, name: str, now: datetime, actor: str) -> NewKey:
    """Make a key named ``name``; the caller shows ``secret`` once and commits."""
    name = (name or "").strip()
    if not name:
        raise ApiKeyRefused("Enter a name for the key, such as the system that will use it")
    if len(name) > 100:
        raise ApiKeyRefused("The name must be 100 characters or fewer")
    secret = PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_KEY_LENGTH))
    key = ApiKey(name=name, secret_digest=digest(secret), redacted=redact(secret), created=now,
                 created_by=actor)
    session.add(key)
    session.flush()
    raise_event(session, "api_key.created", now=now, actor=actor, object_id=key.id,
                data={"name": name, "redacted": key.redacted})
    return NewKey(key, secret)


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, newest first."""
    query = select(ApiKey).order_by(ApiKey.created.desc(), ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def find_key(session: Session, key_id: str) -> ApiKey | None:
    """The key with id ``key_...``."""
    return session.get(ApiKey, key_id)


def revoke_key(session: Session, key: ApiKey, *, now: datetime, actor: str) -> bool:
    """Revoke ``key`` at once; False when it was revoked already."""
    if key.revoked_at is not None:
        return False
    key.revoked_at, key.revoked_by = now, actor
    session.flush()
    raise_event(session, "api_key.revoked", now=now, actor=actor, object_id=key.id,
                data={"name": key.name, "redacted": key.redacted})
    return True


def authenticate(session: Session, secret: str, *, now: datetime) -> ApiKey | None:
    """The active key whose secret this is, or None; notes when it was last used."""
    if not secret.startswith(PREFIX) or len(secret) != len(PREFIX) + _KEY_LENGTH:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.secret_digest == digest(secret)))
    # The lookup is by digest; compare again in constant time all the same.
    if key is None or not hmac.compare_digest(key.secret_digest, digest(secret)):
        return None
    if key.revoked_at is not None:
        return None
    if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_EVERY:
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
                        .execution_options(synchronize_session=False))
        key.last_used_at = now
    return key
