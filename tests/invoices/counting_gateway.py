"""A payment gateway for tests that counts the charges it is asked for."""

from __future__ import annotations

import threading

from portal.payments.gateway import TestGateway


class CountingGateway(TestGateway):
    """The built-in test gateway, counting every charge call. ``hold`` (an Event) keeps a charge
    waiting inside the processor so a test can send a second request meanwhile; ``broken``
    makes the processor give no answer at all."""

    calls: list[dict] = []
    lock = threading.Lock()
    entered: threading.Event | None = None
    hold: threading.Event | None = None
    broken = False

    @classmethod
    def reset(cls) -> None:
        cls.calls = []
        cls.entered = None
        cls.hold = None
        cls.broken = False

    def charge(self, token, *, amount, currency, idempotency_key, description=None):
        with CountingGateway.lock:
            CountingGateway.calls.append({"amount": amount, "currency": currency,
                                          "idempotency_key": idempotency_key})
        if CountingGateway.entered is not None:
            CountingGateway.entered.set()
        if CountingGateway.hold is not None:
            CountingGateway.hold.wait(10)
        if CountingGateway.broken:
            raise ConnectionError("the processor did not answer")
        return super().charge(token, amount=amount, currency=currency,
                              idempotency_key=idempotency_key, description=description)
