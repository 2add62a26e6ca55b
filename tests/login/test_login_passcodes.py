"""The passcode rules, through the operations: 6 digits, 10 minutes, once, 5 wrong tries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.customers.models import LoginPasscode
from portal.events import AuditEvent
from portal.login.operations import (
    Outcome,
    PasscodePolicy,
    check_passcode,
    issue_passcode,
    passcode_hmac,
)


@pytest.fixture
def policy(app) -> PasscodePolicy:
    return PasscodePolicy.from_config(app.config)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_passcode_is_six_digits_and_only_its_keyed_hmac_is_stored(session, now, policy,
                                                                    customer):
    issued = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    session.commit()
    assert re.fullmatch(r"[0-9]{6}", issued.code)
    row = session.get(LoginPasscode, issued.passcode.id)
    assert issued.code not in row.code_hmac
    assert row.code_hmac == passcode_hmac(policy.key, row.id, issued.code)
    assert (row.expires_at - row.created) == timedelta(minutes=10)
    assert (row.customer_id, row.email_normalized) == (customer.id, "jenny.rosen@example.com")


def test_codes_are_not_predictable_from_one_another(session, now, policy, customer):
    codes = {issue_passcode(session, email="jenny.rosen@example.com", now=now,
                            policy=policy).code for _ in range(40)}
    assert len(codes) > 35


def test_the_hmac_needs_the_secret_key(app, policy):
    other = PasscodePolicy.from_config({**app.config, "SECRET_KEY": "another-long-secret-key-0123"})
    assert passcode_hmac(policy.key, "lpc_1", "123456") != passcode_hmac(other.key, "lpc_1",
                                                                          "123456")
    assert passcode_hmac(policy.key, "lpc_1", "123456") != passcode_hmac(policy.key, "lpc_2",
                                                                          "123456")


def test_the_right_code_signs_in_once(session, now, policy, customer):
    issued = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    first = check_passcode(session, passcode_id=issued.passcode.id, code=issued.code, now=now,
                           policy=policy)
    assert first.outcome is Outcome.SIGNED_IN and first.customer.id == customer.id
    again = check_passcode(session, passcode_id=issued.passcode.id, code=issued.code, now=now,
                           policy=policy)
    assert again.outcome is Outcome.GONE and again.customer is None


def test_the_code_works_for_ten_minutes_and_not_after(session, now, policy, customer):
    issued = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    late = check_passcode(session, passcode_id=issued.passcode.id, code=issued.code,
                          now=now + timedelta(minutes=10), policy=policy)
    assert late.outcome is Outcome.EXPIRED
    issued = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    in_time = check_passcode(session, passcode_id=issued.passcode.id, code=issued.code,
                             now=now + timedelta(minutes=9, seconds=59), policy=policy)
    assert in_time.outcome is Outcome.SIGNED_IN


def test_the_validity_comes_from_the_configuration(app, session, now, customer):
    policy = PasscodePolicy.from_config({**app.config, "PASSCODE_TTL_SECONDS": 60,
                                         "PASSCODE_MAX_ATTEMPTS": 2})
    issued = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    assert issued.passcode.expires_at == now + timedelta(seconds=60)
    for expected in (Outcome.WRONG, Outcome.LOCKED):
        result = check_passcode(session, passcode_id=issued.passcode.id, code=wrong(issued.code),
                                now=now, policy=policy)
        assert result.outcome is expected


def test_five_wrong_codes_lock_the_passcode_and_the_right_one_no_longer_works(session, now,
                                                                             policy, customer):
    issued = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    left = []
    for _ in range(5):
        result = check_passcode(session, passcode_id=issued.passcode.id,
                                code=wrong(issued.code), now=now, policy=policy)
        left.append((result.outcome, result.attempts_left))
    assert left == [(Outcome.WRONG, 4), (Outcome.WRONG, 3), (Outcome.WRONG, 2),
                    (Outcome.WRONG, 1), (Outcome.LOCKED, 0)]
    row = session.get(LoginPasscode, issued.passcode.id)
    assert row.locked_at is not None and row.attempts == 5
    result = check_passcode(session, passcode_id=issued.passcode.id, code=issued.code, now=now,
                            policy=policy)
    assert result.outcome is Outcome.LOCKED
    assert session.get(LoginPasscode, issued.passcode.id).attempts == 5


def test_four_wrong_codes_then_the_right_one_signs_in(session, now, policy, customer):
    issued = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    for _ in range(4):
        check_passcode(session, passcode_id=issued.passcode.id, code=wrong(issued.code),
                       now=now, policy=policy)
    result = check_passcode(session, passcode_id=issued.passcode.id, code=issued.code, now=now,
                            policy=policy)
    assert result.outcome is Outcome.SIGNED_IN


def test_an_address_nobody_has_gets_a_passcode_row_that_never_signs_anyone_in(session, now,
                                                                              policy):
    issued = issue_passcode(session, email="nobody@example.com", now=now, policy=policy)
    assert issued.customer is None and issued.passcode.customer_id is None
    # Even the right code (which was never emailed) is just a wrong code here.
    result = check_passcode(session, passcode_id=issued.passcode.id, code=issued.code, now=now,
                            policy=policy)
    assert (result.outcome, result.attempts_left) == (Outcome.WRONG, 4)


def test_a_made_up_passcode_id_is_gone(session, now, policy):
    result = check_passcode(session, passcode_id="lpc_madeup", code="123456", now=now,
                            policy=policy)
    assert result.outcome is Outcome.GONE


def test_a_deleted_customer_cannot_sign_in(session, now, policy, customer):
    issued = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    customer.deleted = True
    session.commit()
    result = check_passcode(session, passcode_id=issued.passcode.id, code=issued.code, now=now,
                            policy=policy)
    assert result.outcome is not Outcome.SIGNED_IN


def test_signing_in_retires_other_codes_for_the_same_address(session, now, policy, customer):
    other = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    used = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    check_passcode(session, passcode_id=used.passcode.id, code=used.code, now=now, policy=policy)
    result = check_passcode(session, passcode_id=other.passcode.id, code=other.code, now=now,
                            policy=policy)
    assert result.outcome is Outcome.EXPIRED


def test_login_events_go_to_the_audit_log_without_the_code(session, now, policy, customer):
    issued = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy,
                            ip_address="203.0.113.9")
    for _ in range(5):
        check_passcode(session, passcode_id=issued.passcode.id, code=wrong(issued.code), now=now,
                       policy=policy, ip_address="203.0.113.9")
    second = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    check_passcode(session, passcode_id=second.passcode.id, code=second.code, now=now,
                   policy=policy)
    session.commit()
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.created)).all()
    types = [event.type for event in events]
    assert types.count("login.code_requested") == 2
    assert types.count("login.code_rejected") == 5
    assert types.count("login.locked") == 1
    assert types.count("login.signed_in") == 1
    for event in events:
        assert event.customer_id == customer.id
        for code in (issued.code, second.code):
            assert code not in repr(event.data) and code not in (event.object_id or "")
    requested = next(e for e in events if e.type == "login.code_requested")
    assert requested.ip_address == "203.0.113.9"
    assert requested.actor == f"customer:{customer.id}"


def test_the_attempt_limit_holds_across_database_sessions(app, session, now, policy, customer):
    """Two app processes (two sessions) share the count: it lives in the row, not in memory."""
    from sqlalchemy.orm import Session

    from portal.extensions import db

    issued = issue_passcode(session, email="jenny.rosen@example.com", now=now, policy=policy)
    session.commit()
    for _ in range(5):
        with Session(db.engine) as other:
            check_passcode(other, passcode_id=issued.passcode.id, code=wrong(issued.code),
                           now=now, policy=policy)
            other.commit()
    with Session(db.engine) as other:
        result = check_passcode(other, passcode_id=issued.passcode.id, code=issued.code,
                                now=now, policy=policy)
        assert result.outcome is Outcome.LOCKED
