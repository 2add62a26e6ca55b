"""Idempotent requests: one key, one run, the same answer for 24 hours.

``begin`` claims the key in a transaction of its own (the unique index on the key lets only
one request win); the winner runs, and ``finish`` stores its answer in the same transaction
as the work, so a commit holds both or neither. Every other request with the key waits for
the answer and replays it, or is refused when its parameters differ. A request that dies
holding the key leaves it locked only until ``locked_until``: a retry then runs again, which
is safe because the operations behind the API are idempotent themselves (a subscription's id
and a charge's key are derived from the idempotency key).

Plain Python over a session: no Flask request here.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.integration.models import IdempotentRequest

KEPT_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyMismatch(Exception):
    """The key was used with other parameters (or another endpoint)."""


class IdempotencyInProgress(Exception):
    """Another request with the key is still running after the wait."""


@dataclass(frozen=True)
class Run:
    """This request holds the key: run, then ``finish`` (or ``abandon``)."""

    record_id: int


@dataclass(frozen=True)
class Replay:
    """The key's first answer, to send again."""

    status: int
    body: str
    request_id: str


def fingerprint(method: str, path: str, pairs: Iterable[tuple[str, str]]) -> str:
    """What makes two requests the same: method, path and parameters, in any order."""
    canonical = f"{method} {path}?{urlencode(sorted(pairs))}"
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def begin(session: Session, *, key: str, fingerprint: str, method: str, path: str,
          api_key_id: str | None, request_id: str, now: datetime, lock_for: timedelta,
          wait_for: timedelta, clock: Callable[[], datetime],
          sleep: Callable[[float], None] = time.sleep) -> Run | Replay:
    """Claim ``key`` for this request, or find the answer it already has (waiting up to
    ``wait_for`` while another request runs); commits its own transaction."""
    deadline = time.monotonic() + wait_for.total_seconds()
    while True:
        record = IdempotentRequest(key=key, fingerprint=fingerprint, method=method, path=path,
                                   api_key_id=api_key_id, created=now, locked_until=now + lock_for,
                                   request_id=request_id)
        try:
            with session.begin_nested():
                session.add(record)
            session.commit()
            return Run(record.id)
        except IntegrityError:
            session.rollback()
        existing = session.scalar(select(IdempotentRequest).where(IdempotentRequest.key == key)
                                  .execution_options(populate_existing=True))
        if existing is None:
            continue  # expired and purged in between: claim it afresh
        moment = clock()
        if existing.created <= moment - KEPT_FOR:
            session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == existing.id))
            session.commit()
            continue
        if existing.fingerprint != fingerprint:
            session.rollback()
            raise IdempotencyMismatch(key)
        if existing.response_status is not None:
            replay = Replay(existing.response_status, existing.response_body or "",
                            existing.request_id)
            session.rollback()
            return replay
        if existing.locked_until is not None and existing.locked_until <= moment:
            # Its request died (or timed out) without an answer: take the key over.
            taken = session.execute(
                update(IdempotentRequest)
                .where(IdempotentRequest.id == existing.id,
                       IdempotentRequest.locked_until == existing.locked_until,
                       IdempotentRequest.response_status.is_(None))
                .values(locked_until=moment + lock_for, request_id=request_id)
                .execution_options(synchronize_session=False)).rowcount == 1
            session.commit()
            if taken:
                return Run(existing.id)
            continue
        session.rollback()
        if time.monotonic() >= deadline:
            raise IdempotencyInProgress(key)
        sleep(0.05)


def finish(session: Session, run: Run, *, status: int, body: str) -> None:
    """Keep the answer, in the caller's transaction (the one holding the work)."""
    session.execute(update(IdempotentRequest).where(IdempotentRequest.id == run.record_id)
                    .values(response_status=status, response_body=body, locked_until=None)
                    .execution_options(synchronize_session=False))


def abandon(session: Session, run: Run) -> None:
    """Free the key (the request did nothing a retry must not repeat); commits."""
    session.rollback()
    session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == run.record_id,
                                                    IdempotentRequest.response_status.is_(None)))
    session.commit()


def purge(session: Session, *, now: datetime) -> int:
    """Forget answers older than 24 hours; returns how many. The caller commits."""
    return session.execute(delete(IdempotentRequest)
                           .where(IdempotentRequest.created <= now - KEPT_FOR)
                           .execution_options(synchronize_session=False)).rowcount or 0
