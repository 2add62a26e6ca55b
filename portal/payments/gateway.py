"""The payment gateway interface, and the built-in test gateway.

Everything that touches a processor goes through ``PaymentGateway``. A real processor adapter is
one class with these three methods, named by ``PORTAL_PAYMENT_GATEWAY = "module:Class"``;
no portal code changes. Card numbers and CVCs pass through ``tokenize_card`` and are dropped:
only the returned ``TokenizedCard`` (brand, last four, expiry, token) may be stored.
docs/payment-gateways.md is the adapter author's guide.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from flask_babel import gettext as _

from portal.translation import N_, shown


@dataclass(frozen=True)
class CardDetails:
    """What a customer typed. Never stored, never logged (repr hides the number and CVC)."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)
    name: str | None = None
    postal_code: str | None = None


@dataclass(frozen=True)
class TokenizedCard:
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    funding: str = "credit"
    country: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    reference: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


class CardError(Exception):
    """The card was refused. ``message`` is plain words for the customer; ``field`` the form
    field to show it next to (number, expiry, cvc) or None for the form as a whole."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class IdempotencyKeyReused(ValueError):
    """A key was sent again with a different amount, currency or card: a bug in the caller,
    never something to retry."""


@runtime_checkable
class PaymentGateway(Protocol):
    """What the portal asks of a processor. An adapter may also define
    ``from_config(cls, config)`` to read its keys from the app configuration."""

    name: str

    def tokenize_card(self, card: CardDetails, *, now: datetime) -> TokenizedCard:
        """Check the card with the processor and return a reusable token, or raise CardError."""

    def charge(self, token: str, *, amount: int, currency: str, idempotency_key: str,
               description: str | None = None) -> ChargeResult:
        """Charge ``amount`` minor units. The processor must treat a repeated key as the same
        charge, so a retry after a crash never charges twice."""

    def detach(self, token: str) -> None:
        """Tell the processor the card is no longer saved."""


# Plain words for decline codes, shared by every gateway. Kept in English (a failed payment
# stores its message); shown translated through portal.translation.shown.
DECLINE_MESSAGES = {
    "card_declined": N_("Your card was declined. Try another card or contact your bank."),
    "generic_decline": N_("Your card was declined. Try another card or contact your bank."),
    "insufficient_funds": N_("Your card has insufficient funds. Try another card."),
    "lost_card": N_("Your card was declined. Try another card or contact your bank."),
    "stolen_card": N_("Your card was declined. Try another card or contact your bank."),
    "expired_card": N_("Your card has expired. Check the expiry date or use another card."),
    "incorrect_cvc": N_("The security code is incorrect. Check the 3 or 4 digits on your card."),
    "incorrect_number": N_("The card number is not right. Check it and try again."),
    "processing_error": N_("There was a problem processing your card. Try again in a few minutes."),
    "payment_method_detached": N_("This card is no longer saved. Choose another card or add a new one."),
}

# Stripe's documented test card numbers and what they do here. "attach" outcomes refuse the
# card when it is added; "charge" outcomes save it but fail every charge.
TEST_CARDS = {
    "4242424242424242": ("visa", "credit", "US", None),
    "4000056655665556": ("visa", "debit", "US", None),
    "5555555555554444": ("mastercard", "credit", "US", None),
    "2223003122003222": ("mastercard", "credit", "US", None),
    "5200828282828210": ("mastercard", "debit", "US", None),
    "378282246310005": ("amex", "credit", "US", None),
    "371449635398431": ("amex", "credit", "US", None),
    "6011111111111117": ("discover", "credit", "US", None),
    "3056930009020004": ("diners", "credit", "US", None),
    "3566002020360505": ("jcb", "credit", "JP", None),
    "6200000000000005": ("unionpay", "credit", "CN", None),
    "4000002500000003": ("visa", "credit", "FR", None),
    "4000008260000000": ("visa", "credit", "GB", None),
    "4000000000000002": ("visa", "credit", "US", ("charge", "card_declined")),
    "4000000000009995": ("visa", "credit", "US", ("charge", "insufficient_funds")),
    "4000000000009987": ("visa", "credit", "US", ("charge", "lost_card")),
    "4000000000009979": ("visa", "credit", "US", ("charge", "stolen_card")),
    "4000000000000341": ("visa", "credit", "US", ("charge", "card_declined")),
    "4000000000000069": ("visa", "credit", "US", ("attach", "expired_card")),
    "4000000000000127": ("visa", "credit", "US", ("attach", "incorrect_cvc")),
    "4000000000000119": ("visa", "credit", "US", ("attach", "processing_error")),
    "4242424242424241": ("visa", "credit", "US", ("attach", "incorrect_number")),
}

_BRAND_PREFIXES = (
    ("amex", ("34", "37")),
    ("diners", ("300", "301", "302", "303", "304", "305", "36", "38")),
    ("discover", ("6011", "65", "644", "645", "646", "647", "648", "649")),
    ("jcb", ("35",)),
    ("unionpay", ("62",)),
    ("mastercard", tuple(str(n) for n in range(51, 56)) + tuple(str(n) for n in range(2221, 2721))),
    ("visa", ("4",)),
)

_FIELD_FOR_CODE = {"incorrect_number": "number", "expired_card": "expiry", "incorrect_cvc": "cvc"}


def luhn_valid(number: str) -> bool:
    """The Luhn checksum every card number carries."""
    # isdigit() alone is true for "²" and full-width digits, which int() then refuses or reads.
    if not (number.isascii() and number.isdigit()) or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_brand(number: str) -> str:
    """The brand a number's prefix belongs to, or "unknown"."""
    for brand, prefixes in _BRAND_PREFIXES:
        if number.startswith(prefixes):
            return brand
    return "unknown"


def decline(code: str) -> CardError:
    return CardError(code, shown(DECLINE_MESSAGES.get(code, DECLINE_MESSAGES["card_declined"])),
                     _FIELD_FOR_CODE.get(code))


class TestGateway:
    """Accepts Stripe's test card numbers with their documented outcomes. Tokens carry the
    outcome, so charges behave the same across processes and restarts."""

    __test__ = False  # not a pytest test class
    name = "test"

    def __init__(self, secret: bytes = b"portal-test-gateway"):
        self._secret = secret
        self._lock = threading.Lock()
        self._charges: dict[str, tuple[tuple, ChargeResult]] = {}
        self._detached: set[str] = set()

    def tokenize_card(self, card: CardDetails, *, now: datetime) -> TokenizedCard:
        number = "".join(card.number.split()).replace("-", "")
        if not luhn_valid(number):
            raise decline("incorrect_number")
        if not 1 <= card.exp_month <= 12:
            raise CardError("invalid_expiry_month", _("Enter a real expiry month, from 01 to 12"),
                            "expiry")
        if (card.exp_year, card.exp_month) < (now.year, now.month):
            raise decline("expired_card")
        brand = card_brand(number)
        cvc_length = 4 if brand == "amex" else 3
        if not (card.cvc.isascii() and card.cvc.isdigit() and len(card.cvc) == cvc_length):
            raise CardError("invalid_cvc", _("Enter the %(cvc_length)s-digit security code",
                                             cvc_length=cvc_length), "cvc")
        known = TEST_CARDS.get(number)
        if known is None:
            raise CardError(
                "card_not_supported",
                _("This card was not accepted. In test mode use a test card such as "
                  "4242 4242 4242 4242."),
                "number",
            )
        brand, funding, country, outcome = known
        if outcome and outcome[0] == "attach":
            raise decline(outcome[1])
        charge_outcome = outcome[1] if outcome else "ok"
        token = f"tok_test_{charge_outcome}_{secrets.token_hex(8)}"
        fingerprint = hmac.new(self._secret, number.encode(), hashlib.sha256).hexdigest()[:16]
        return TokenizedCard(token=token, brand=brand, last4=number[-4:],
                             exp_month=card.exp_month, exp_year=card.exp_year,
                             funding=funding, country=country, fingerprint=fingerprint)

    def charge(self, token: str, *, amount: int, currency: str, idempotency_key: str,
               description: str | None = None) -> ChargeResult:
        params = (token, amount, currency.lower())
        # One lock: two threads with the same key must not both decide the outcome.
        with self._lock:
            if idempotency_key in self._charges:
                seen_params, result = self._charges[idempotency_key]
                if seen_params != params:
                    raise IdempotencyKeyReused(
                        f"idempotency key {idempotency_key!r} was used for a different charge"
                    )
                return result
            result = self._decide(token)
            if result.succeeded:
                reference = "ch_test_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
                result = ChargeResult(True, reference)
            self._charges[idempotency_key] = (params, result)
            return result

    def _decide(self, token: str) -> ChargeResult:
        if token in self._detached:
            # A processor refuses a card the customer removed.
            return ChargeResult(False, None, "payment_method_detached",
                                DECLINE_MESSAGES["payment_method_detached"])
        if not token.startswith("tok_test_"):
            return ChargeResult(False, None, "processing_error",
                                DECLINE_MESSAGES["processing_error"])
        outcome = token.removeprefix("tok_test_").rsplit("_", 1)[0]
        if outcome == "ok":
            return ChargeResult(True)
        return ChargeResult(False, None, outcome,
                            DECLINE_MESSAGES.get(outcome, DECLINE_MESSAGES["card_declined"]))

    def detach(self, token: str) -> None:
        with self._lock:
            self._detached.add(token)


_gateway_cache: dict[str, PaymentGateway] = {}
_gateway_lock = threading.Lock()


def get_gateway(spec: str | None = None, config=None) -> PaymentGateway:
    """The configured gateway (``PORTAL_PAYMENT_GATEWAY``), one instance per process.

    A class with a ``from_config`` classmethod is built with the app's configuration (its
    keys); any other class is built with no arguments.
    """
    if spec is None:
        config = _app_config() if config is None else config
        spec = config["PAYMENT_GATEWAY"]
    with _gateway_lock:
        if spec not in _gateway_cache:
            _gateway_cache[spec] = _build_gateway(spec, config)
        return _gateway_cache[spec]


def _app_config():
    from flask import current_app

    return current_app.config


def _build_gateway(spec: str, config) -> PaymentGateway:
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise RuntimeError(
            f"PORTAL_PAYMENT_GATEWAY must look like 'package.module:Class', not {spec!r}"
        )
    cls = getattr(importlib.import_module(module_name), class_name)
    factory = getattr(cls, "from_config", None)
    if callable(factory):
        gateway = factory(_app_config() if config is None else config)
    else:
        gateway = cls()
    missing = [m for m in ("tokenize_card", "charge", "detach")
               if not callable(getattr(gateway, m, None))]
    if not isinstance(getattr(gateway, "name", None), str):
        missing.insert(0, "name")
    if missing:
        raise RuntimeError(
            f"{spec} is not a payment gateway: it lacks {', '.join(missing)} "
            "(see docs/payment-gateways.md)"
        )
    return gateway
