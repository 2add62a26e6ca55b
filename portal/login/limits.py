"""Rate limits on the login pages, kept in Flask-Limiter's storage (memory, or Redis through
RATELIMIT_STORAGE_URI, so every app process shares the counts).

The views check the limits themselves rather than through decorators: the per-address limit
needs the validated email (or the passcode row's), and a breach is shown inside the form, as a
fragment for htmx, instead of the generic 429 page.

When the storage cannot be reached (Redis down), the same limits are counted in this process's
memory instead, so customers can still sign in: a warning says so once, the storage is tried
again every FALLBACK_RECHECK_SECONDS, and an info line says when it is back. Flask-Limiter's
own fallback (in_memory_fallback_enabled, portal/extensions.py) covers only its decorated
limits, and these are checked by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from dataclasses import dataclass

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import parse_many
from limits.storage import MemoryStorage

from portal.extensions import limiter

log = logging.getLogger("portal.limits")

# While the shared storage is down, how often a request tries it again (one connection
# attempt, refused at once or cut short by the storage's connect timeout).
FALLBACK_RECHECK_SECONDS = 5.0
_FALLBACK = "portal.login.limits.fallback"

# Overridable in the app's configuration; read on every check so tests and deployments can tune.
DEFAULT_LIMITS = {
    # Passcode emails to one address asked for from one client IP: the tight limit. Keyed by
    # both, so an attacker who exhausts it from their network does not lock the customer out.
    "LOGIN_EMAIL_LIMIT_PER_ADDRESS_AND_IP": "3 per 10 minutes;10 per day",
    # Passcode emails to one address, however many browsers or networks ask: a looser overall
    # cap, so many IPs together still cannot flood one inbox.
    "LOGIN_EMAIL_LIMIT_PER_ADDRESS": "20 per hour;50 per day",
    # Passcode emails asked for from one client IP (offices and mobile networks share IPs).
    "LOGIN_EMAIL_LIMIT_PER_IP": "10 per 10 minutes;50 per day",
    # Codes checked from one client IP; each passcode allows 5 tries on top of this.
    "LOGIN_CODE_CHECK_LIMIT_PER_IP": "20 per 10 minutes;100 per day",
    # Staff password attempts at /admin/sign-in, keyed the same three ways.
    "ADMIN_SIGN_IN_LIMIT_PER_IP": "20 per 10 minutes;200 per day",
    "ADMIN_SIGN_IN_LIMIT_PER_ADDRESS_AND_IP": "5 per 10 minutes;30 per day",
    "ADMIN_SIGN_IN_LIMIT_PER_ADDRESS": "50 per hour;200 per day",
}


@dataclass(frozen=True)
class Breach:
    retry_after_seconds: int

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after_seconds / 60))


def client_ip() -> str:
    """The client's address as the app sees it (ProxyFix makes it the real one behind proxies)."""
    return get_remote_address() or "unknown"


def address_key(email: str) -> str:
    """A keyed digest of the address, so neither the limiter's storage nor its log lines hold
    the email itself."""
    secret = current_app.config["SECRET_KEY"]
    secret = secret if isinstance(secret, bytes) else str(secret).encode()
    return hmac.new(secret, b"login-rate:" + email.encode(), hashlib.sha256).hexdigest()[:32]


def passcode_email_checks(email_normalized: str) -> tuple[tuple[str, str], ...]:
    """The limits one passcode email to ``email_normalized`` counts against."""
    ip = client_ip()
    address = address_key(email_normalized)
    return (("LOGIN_EMAIL_LIMIT_PER_IP", ip),
            ("LOGIN_EMAIL_LIMIT_PER_ADDRESS_AND_IP", f"{address}:{ip}"),
            ("LOGIN_EMAIL_LIMIT_PER_ADDRESS", address))


def hit(*checks: tuple[str, str]) -> Breach | None:
    """Count one request against every (setting name, key) pair; a Breach if any is exhausted.

    Nothing is counted when one limit is already exhausted, so a refused request does not use
    up the other limits.
    """
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return None
    prefix = config.get("RATELIMIT_KEY_PREFIX") or "portal"
    planned = []
    for setting, key in checks:
        for item in parse_many(config.get(setting) or DEFAULT_LIMITS[setting]):
            planned.append((item, (prefix, "login", setting, key)))
    fallback = _fallback()
    if not fallback.active or fallback.recheck_due():
        try:
            breach = _count(limiter.limiter, planned)
        except Exception as error:  # noqa: BLE001 (whatever the storage backend raises)
            fallback.start(error)
        else:
            fallback.stop()
            return breach
    return _count(fallback.strategy, planned)


def _count(strategy, planned) -> Breach | None:
    for item, identifiers in planned:
        if not strategy.test(item, *identifiers):
            reset = strategy.get_window_stats(item, *identifiers).reset_time
            return Breach(retry_after_seconds=max(1, int(reset - time.time())))
    for item, identifiers in planned:
        strategy.hit(item, *identifiers)
    return None


class _MemoryFallback:
    """This process's counts while the shared storage is out of reach."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.strategy = None
        self.active = False
        self.next_check = 0.0

    def recheck_due(self) -> bool:
        return time.monotonic() >= self.next_check

    def start(self, error: Exception) -> None:
        with self.lock:
            if self.strategy is None:
                # The same strategy as the shared storage's, so a limit means the same thing.
                self.strategy = type(limiter.limiter)(MemoryStorage())
            if not self.active:
                log.warning("rate limits: the storage (PORTAL_RATELIMIT_STORAGE_URI) cannot be "
                            "reached (%s): counting sign-in limits in this process until it "
                            "is back", type(error).__name__)
            self.active = True
            self.next_check = time.monotonic() + FALLBACK_RECHECK_SECONDS

    def stop(self) -> None:
        if self.active:
            with self.lock:
                if self.active:
                    log.info("rate limits: the storage is back; counting there again")
                self.active = False


def _fallback() -> _MemoryFallback:
    fallback = current_app.extensions.get(_FALLBACK)
    if fallback is None:
        fallback = current_app.extensions.setdefault(_FALLBACK, _MemoryFallback())
    return fallback
