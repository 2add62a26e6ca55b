"""Random, prefixed public identifiers in the style merchants know from Stripe (cus_, in_, ...)."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """Return an unguessable id such as ``cus_9sKx...``; never sequential."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def id_factory(prefix: str):
    """A column default that makes a new id with ``prefix``."""
    return lambda: new_id(prefix)
