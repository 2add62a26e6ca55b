"""A test gateway for billing runs in other processes: it writes every charge to a file, can
make processes start together, and can kill its own process right after a charge went
through, before the portal saved the answer (the worst moment to die).

Configured by environment variables, since it lives in a ``flask`` subprocess:
PORTAL_TEST_GATEWAY_LOG (the file), PORTAL_TEST_GATEWAY_KILL_AFTER (SIGKILL after this many
charges) and PORTAL_TEST_GATEWAY_RENDEZVOUS ("folder:count": wait for count processes).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from portal.payments.gateway import TestGateway


class RecordingGateway(TestGateway):
    """The built-in test gateway, recording each charge as one JSON line."""

    def __init__(self):
        super().__init__()
        self._count = 0
        self._count_lock = threading.Lock()

    @classmethod
    def from_config(cls, config) -> RecordingGateway:
        """Built once per process, by get_gateway: where processes meet, if they are to."""
        rendezvous = os.environ.get("PORTAL_TEST_GATEWAY_RENDEZVOUS")
        if rendezvous:
            folder, count = rendezvous.rsplit(":", 1)
            _meet(Path(folder), int(count))
        return cls()

    def charge(self, token, *, amount, currency, idempotency_key, description=None):
        """Charge as the test gateway does, write it down, and die if told to."""
        result = super().charge(token, amount=amount, currency=currency,
                                idempotency_key=idempotency_key, description=description)
        line = json.dumps({"pid": os.getpid(), "key": idempotency_key, "amount": amount,
                           "succeeded": result.succeeded})
        with open(os.environ["PORTAL_TEST_GATEWAY_LOG"], "a") as log:
            log.write(line + "\n")
            log.flush()
            os.fsync(log.fileno())
        with self._count_lock:
            self._count += 1
            count = self._count
        kill_after = os.environ.get("PORTAL_TEST_GATEWAY_KILL_AFTER")
        if kill_after and count >= int(kill_after):
            # The processor has the money; the portal never hears of it.
            os.kill(os.getpid(), signal.SIGKILL)
        return result


def _meet(folder: Path, count: int) -> None:
    """Wait until ``count`` processes have arrived, so their runs start together."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(folder.iterdir())) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def read_log(path: Path) -> list[dict]:
    """The charges recorded in ``path``, in order."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
