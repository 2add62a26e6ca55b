"""The passcode email is written to the outbox with the passcode, in one transaction: the code
encrypted there and erased once sent; an unknown address's row rendered and dropped."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from portal.customers.models import LoginPasscode
from portal.outbox.delivery import deliver_due
from portal.outbox.models import OutboxMessage


@pytest.fixture
def app_config(smtp_config):
    # The test delivers, when it chooses to (no in-process deliverer).
    return {**smtp_config, "WORKER_MODE": "external"}


def outbox_rows(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.created)))


def stored_payload_text(session, row_id: str) -> str:
    value = session.execute(text("SELECT payload FROM outbox_message WHERE id = :id"),
                            {"id": row_id}).scalar_one()
    return value if isinstance(value, str) else json.dumps(value)


def code_in(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True).decode()
            return re.search(r"^\s*(\d{6})\s*$", body, re.MULTILINE).group(1)
    raise AssertionError("no text part")


def test_the_code_is_never_in_the_outbox_row_in_clear_and_is_erased_once_sent(
        login, customer, session, smtp_server):
    login.request_code("jenny.rosen@example.com")
    [row] = outbox_rows(session)
    before = stored_payload_text(session, row.id)
    assert row.payload["to"] == "jenny.rosen@example.com"
    assert row.payload["deliver"] is True and row.payload["secret"]
    deliver_due()
    [message] = smtp_server.messages
    code = code_in(message)
    assert code not in before
    after = stored_payload_text(session, row.id)
    assert code not in after and "secret" not in json.loads(after)
    # The code the customer got is the one that signs them in.
    assert login.enter_code(code).headers["Location"].endswith("/p/")


def test_an_unknown_addresss_email_is_rendered_and_dropped_and_its_code_erased(
        login, customer, session, smtp_server):
    login.request_code("nobody.here@example.com")
    [row] = outbox_rows(session)
    assert row.payload["deliver"] is False and row.payload["secret"]
    assert deliver_due() == 1
    assert smtp_server.messages == []
    [row] = outbox_rows(session)
    assert row.sent_at is not None and "secret" not in row.payload


def test_known_and_unknown_addresses_leave_outbox_rows_of_the_same_shape(
        login, customer, session):
    login.request_code("jenny.rosen@example.com")
    login.request_code("nobody.here@example.com")
    known, unknown = outbox_rows(session)
    assert sorted(known.payload) == sorted(unknown.payload)
    assert known.payload["subject"] == unknown.payload["subject"]
    assert known.payload["context"] == unknown.payload["context"]
    assert len(known.payload["secret"]) == len(unknown.payload["secret"])
    assert (known.payload["deliver"], unknown.payload["deliver"]) == (True, False)


def test_a_passcode_whose_email_cannot_be_queued_is_not_stored_either(
        app, login, customer, session, monkeypatch):
    from portal.login import operations

    def broken(*args, **kwargs):
        raise RuntimeError("the outbox is unavailable")

    monkeypatch.setattr(operations, "enqueue_email", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    login.request_code("jenny.rosen@example.com", expected_status=500)
    session.rollback()
    assert session.scalars(select(LoginPasscode)).all() == []
    assert outbox_rows(session) == []


def test_a_code_email_still_waiting_when_the_code_expires_is_never_sent(
        login, customer, session, smtp_server):
    login.request_code("jenny.rosen@example.com")
    [row] = outbox_rows(session)
    deliver_due(now=row.created + timedelta(minutes=10))
    assert smtp_server.messages == []
    [row] = outbox_rows(session)
    assert row.last_error == "Expired" and "secret" not in row.payload
