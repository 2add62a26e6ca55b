"""The reporting tests run at a fixed moment, so every month is known."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.reporting.helpers import NOW, add_payment


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def make_payment(session):
    """``make_payment(customer, amount, status=, currency=, created=, completed_at=)``."""
    return lambda customer, amount=2900, **fields: add_payment(session, customer, amount,
                                                               **fields)
