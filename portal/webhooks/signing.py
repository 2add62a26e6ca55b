"""Signing secrets and the ``Stripe-Signature`` header, exactly as Stripe makes them, so a
merchant's ``stripe.Webhook.construct_event(payload, header, secret)`` verifies a delivery.

The header is ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed by the whole
secret, "whsec_" included>``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from portal.outbox.sealing import seal, unseal

SECRET_PREFIX = "whsec_"  # noqa: S105  (the prefix, not a secret)
SEALING_PURPOSE = "portal.webhooks.signing-secret"
_ALPHABET = string.ascii_letters + string.digits
SCHEME = "v1"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random letters and digits (190 bits)."""
    return SECRET_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(32))


def seal_secret(secret: str) -> str:
    """The secret as stored: encrypted under a key of its own derived from SECRET_KEY."""
    return seal({"secret": secret}, purpose=SEALING_PURPOSE)


def unseal_secret(sealed: str) -> str:
    """The stored secret in clear (to sign, or to show staff who asked)."""
    return unseal(sealed, purpose=SEALING_PURPOSE)["secret"]


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<payload>"`` keyed by ``secret``."""
    signed = f"{int(timestamp)}.".encode() + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``payload`` sent at ``timestamp``."""
    return f"t={int(timestamp)},{SCHEME}={compute_signature(payload, secret, timestamp)}"
