"""What the merchant decides about failed payments, as the engine and subscription changes
read it: plain values, built from the app's configuration by the caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

AFTER_FINAL_FAILURE = ("canceled", "unpaid")


@dataclass(frozen=True)
class BillingPolicy:
    """Smart retries as a fixed schedule: ``retry_days`` counts days after the first failed
    attempt (Stripe's default is about four retries within two weeks); after the last retry
    fails the subscription becomes ``after_final_failure``: "canceled" or "unpaid".

    A payment left "processing" (the engine died between the processor's answer and saving
    it) is asked about again with its own idempotency key once it is ``resend_after`` old, and
    only while it is younger than ``resend_before``: processors keep idempotency keys for a
    limited time (Stripe: at least 24 hours), after which a resend could charge again."""

    retry_days: tuple[int, ...] = (3, 5, 7)
    after_final_failure: str = "canceled"
    resend_after: timedelta = timedelta(hours=1)
    resend_before: timedelta = timedelta(hours=24)

    def next_attempt(self, first_failed_at: datetime, failed_attempts: int) -> datetime | None:
        """When to try again after ``failed_attempts`` failures, or None after the last."""
        if failed_attempts < 1 or failed_attempts > len(self.retry_days):
            return None
        return first_failed_at + timedelta(days=self.retry_days[failed_attempts - 1])

    @classmethod
    def from_config(cls, config) -> BillingPolicy:
        """Read BILLING_RETRY_DAYS and BILLING_AFTER_FINAL_FAILURE from a Flask config."""
        days = _retry_days(config.get("BILLING_RETRY_DAYS", cls.retry_days))
        after = config.get("BILLING_AFTER_FINAL_FAILURE", cls.after_final_failure)
        if after not in AFTER_FINAL_FAILURE:
            raise ValueError("PORTAL_BILLING_AFTER_FINAL_FAILURE must be canceled or unpaid, "
                             f"not {after!r}")
        return cls(retry_days=days, after_final_failure=after)


def _retry_days(value) -> tuple[int, ...]:
    """A JSON list ([3, 5, 7]) or text ("3,5,7") of whole days, each later than the one before;
    empty means no retries."""
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split() if part]
    try:
        days = tuple(int(day) for day in value)
        if any(isinstance(day, float) and not day.is_integer() for day in value):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError("PORTAL_BILLING_RETRY_DAYS must be a list of whole days such as "
                         f"[3, 5, 7], not {value!r}") from None
    if any(day < 1 for day in days) or list(days) != sorted(set(days)):
        raise ValueError("PORTAL_BILLING_RETRY_DAYS must count days after the first failure, "
                         f"each later than the one before, such as [3, 5, 7], not {list(days)}")
    return days
