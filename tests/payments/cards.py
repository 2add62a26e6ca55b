"""Card data and date helpers shared by the payment-method tests."""

from __future__ import annotations

from datetime import datetime

# A number and CVC that must never come back: the CVC is distinctive so a search for it means
# something (a 3-digit string can turn up inside random ids, so tests look for it standalone).
CARD_NUMBER = "4242424242424242"
CVC = "314"


def month_offset(now: datetime, months: int) -> tuple[int, int]:
    """(year, month) ``months`` after ``now``'s month (negative: before)."""
    index = now.year * 12 + now.month - 1 + months
    return index // 12, index % 12 + 1


def mm_yy(now: datetime, months: int) -> str:
    year, month = month_offset(now, months)
    return f"{month:02d}/{year % 100:02d}"
