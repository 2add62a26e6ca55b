"""The secret part of an outbox payload (a passcode), encrypted at rest.

The outbox row waits in the database until the worker sends it, and database dumps, backups
and replicas are read by more people than the mailbox is. So a secret the email carries is
stored as a Fernet token (AES and an HMAC) under a key of its own, derived from SECRET_KEY
with HKDF, and erased from the row once the email was sent or given up on.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

OUTBOX = "portal.outbox.secret"


@lru_cache(maxsize=8)
def _fernet(secret: bytes, purpose: str = OUTBOX) -> Fernet:
    # A key of its own: a leaked outbox key must never sign a session, nor the reverse; and
    # each purpose (outbox secrets, webhook signing secrets) has its own.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=purpose.encode()).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def _secret_key() -> bytes:
    secret = current_app.config["SECRET_KEY"]
    return secret if isinstance(secret, bytes) else str(secret).encode()


def seal(values: dict, *, purpose: str = OUTBOX) -> str:
    """Encrypt ``values`` (JSON) for the outbox row (or, with another ``purpose``, for
    another table: a webhook endpoint's signing secret)."""
    return _fernet(_secret_key(), purpose).encrypt(json.dumps(values).encode()).decode()


def unseal(token: str, *, purpose: str = OUTBOX) -> dict:
    """The values ``seal`` encrypted; raises cryptography's InvalidToken when SECRET_KEY has
    changed since, or the token was altered."""
    return json.loads(_fernet(_secret_key(), purpose).decrypt(token.encode()))
