"""A card number or CVC is never stored, never logged and never shown back."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from tests.payments.cards import CARD_NUMBER, CVC, mm_yy

SPACED = " ".join(CARD_NUMBER[i:i + 4] for i in range(0, 16, 4))
# The CVC as a number on its own: random ids and tokens may contain "314" by chance.
CVC_ALONE = re.compile(rf"(?<![0-9A-Za-z]){CVC}(?![0-9A-Za-z])")


def leaks(text: str) -> list[str]:
    found = []
    if CARD_NUMBER in text or SPACED in text or CARD_NUMBER[:12] in re.sub(r"\D", "", text):
        found.append("card number")
    if CVC_ALONE.search(text):
        found.append("CVC")
    return found


@pytest.fixture
def all_logs(caplog):
    """Every logger at DEBUG, libraries included (SQLAlchemy quiets its own to WARNING unless
    asked, and its DEBUG lines carry each statement's parameters)."""
    caplog.set_level(logging.DEBUG)
    for name in ["sqlalchemy", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_the_leak_detector_finds_what_it_looks_for():
    assert leaks(f"card {SPACED}") == ["card number"]
    assert leaks(f'{{"number": "{CARD_NUMBER}", "cvc": "{CVC}"}}') == ["card number", "CVC"]
    assert leaks("pm_a314b tok_test_ok_8f314e9 ending in 4242") == []


def every_stored_value():
    """(table.column, text) for every value in every table."""
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for column, value in row._mapping.items():
                    if value is not None:
                        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
                        yield f"{table.name}.{column}", text


def test_after_adding_a_card_no_column_and_no_log_line_holds_the_number_or_cvc(
        client_request, signed_in_customer, card_form, all_logs, session):
    client_request.post_response("payments.add_payment_method",
                                 _data=card_form(number=SPACED, cvc=CVC, make_default="y"))
    values = list(every_stored_value())
    # The test can fail: the card and its event are there, summarised.
    assert ("payment_method.card_last4", "4242") in values
    assert any(name == "audit_event.type" and text == "payment_method.attached"
               for name, text in values)
    assert [(name, leaks(text)) for name, text in values if leaks(text)] == []

    messages = [record.getMessage() for record in all_logs.records]
    # SQL is logged at this level (with its parameters): had a number gone in, it would show.
    assert any("INSERT INTO payment_method" in m for m in messages)
    assert any("payment_method.attached" in m for m in messages)
    assert [m for m in messages if leaks(m)] == []


def test_the_sqlite_file_itself_never_holds_the_number(client_request, signed_in_customer,
                                                       card_form, session):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the database file is only readable on SQLite; the column scan covers PostgreSQL")
    client_request.post_response("payments.add_payment_method", _data=card_form(number=SPACED))
    session.commit()
    data = Path(db.engine.url.database).read_bytes()
    assert b"4242" in data  # the last four are there, so the file is the right one
    assert CARD_NUMBER.encode() not in data and SPACED.encode() not in data


REFUSED = [
    {"number": "4000 0000 0000 0127", "cvc": CVC},  # gateway refusal next to the CVC
    {"number": "4000 0000 0000 0069", "cvc": CVC},  # gateway refusal next to the expiry
    {"number": "4000 0000 0000 0119", "cvc": CVC},  # gateway refusal in the summary
    {"number": SPACED, "cvc": CVC, "name": ""},  # a good card, another field wrong
    {"number": SPACED, "cvc": CVC, "expiry": "13/30"},
    {"number": SPACED, "cvc": "31"},  # the CVC itself wrong
    {"number": "4242 4242 4242 4241", "cvc": CVC},  # the number itself wrong
    {"number": SPACED, "cvc": CVC, "name": SPACED},  # the number typed into the name box too
    {"number": SPACED, "cvc": CVC, "postal_code": CARD_NUMBER},
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("typed", REFUSED)
def test_a_refused_card_is_never_shown_back(client_request, signed_in_customer, card_form,
                                            all_logs, typed, htmx):
    response = client_request.post_response("payments.add_payment_method", _htmx=htmx,
                                            _data=card_form(**typed), _expected_status=422)
    html = response.get_data(as_text=True)
    assert leaks(html) == []
    assert "4242 4242 4242 4241" not in html and "4000 0000 0000" not in html
    assert [r.getMessage() for r in all_logs.records if leaks(r.getMessage())] == []
    assert list(every_stored_value()) and not [n for n, t in every_stored_value() if leaks(t)]


def test_the_expiry_and_name_are_kept_but_the_secrets_are_not(client_request, signed_in_customer,
                                                              card_form, now):
    page = client_request.post("payments.add_payment_method", _expected_status=422,
                               _data=card_form(number=SPACED, cvc=CVC, name=""))
    values = {i["name"]: i.get("value") for i in page.select("input[name]")}
    assert values["expiry"] == mm_yy(now, 30) and values["postal_code"] == "97712"
    assert values["number"] == "" and values["cvc"] == ""
