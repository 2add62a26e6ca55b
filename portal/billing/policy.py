"""What the merchant decides about failed payments, as the engine and subscription changes
read it: plain values, built from the app's configuration by the caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BillingPolicy:
    """Smart retries as a fixed schedule: ``retry_days`` counts days after the first failed
    attempt (Stripe's default is about four retries within two weeks); after the last retry
    fails the subscription becomes ``after_final_failure``: "canceled" or "unpaid"."""

    retry_days: tuple[int, ...] = (3, 5, 7)
    after_final_failure: str = "canceled"

    def next_attempt(self, first_failed_at: datetime, failed_attempts: int) -> datetime | None:
        """When to try again after ``failed_attempts`` failures, or None after the last."""
        if failed_attempts < 1 or failed_attempts > len(self.retry_days):
            return None
        return first_failed_at + timedelta(days=self.retry_days[failed_attempts - 1])

    @classmethod
    def from_config(cls, config) -> BillingPolicy:
        """Read BILLING_RETRY_DAYS and BILLING_AFTER_FINAL_FAILURE from a Flask config."""
        days = tuple(int(day) for day in config.get("BILLING_RETRY_DAYS", cls.retry_days))
        after = config.get("BILLING_AFTER_FINAL_FAILURE", cls.after_final_failure)
        if after not in ("canceled", "unpaid"):
            raise ValueError("BILLING_AFTER_FINAL_FAILURE must be canceled or unpaid")
        return cls(retry_days=days, after_final_failure=after)
