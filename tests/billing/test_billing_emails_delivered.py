"""The engine's emails reach a real SMTP server through the outbox, once each, with what the
customer needs to act on: the amount, the next try and the link to pay."""

from __future__ import annotations

import pytest

from tests.billing.helpers import DECLINED, FEB_1, GATEWAY_SPEC, JAN_1, invoices_of


@pytest.fixture
def app_config(smtp_config) -> dict:
    # Only the test delivers (WORKER_MODE=external), when it drains the outbox.
    return {**smtp_config, "PAYMENT_GATEWAY": GATEWAY_SPEC, "WORKER_MODE": "external",
            "PUBLIC_URL": "https://billing.acme.example"}


@pytest.fixture
def failing(customer, make_payment_method, pro, make_subscription):
    make_payment_method(customer, number=DECLINED)
    return make_subscription(customer, pro, current_period_start=JAN_1,
                             current_period_end=FEB_1, billing_cycle_anchor=JAN_1)


def _text(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text part")


def test_a_declined_renewal_emails_the_customer_once_with_the_amount_and_a_link_to_pay(
        bill, session, failing, customer, smtp_server, drain_outbox):
    bill(FEB_1)
    bill(FEB_1)  # the same moment again: nothing new to say
    drain_outbox(now=FEB_1)
    drain_outbox(now=FEB_1)

    [message] = smtp_server.messages
    [invoice] = invoices_of(session, failing)
    assert message["To"] == customer.email
    body = _text(message)
    assert "$29.00" in body
    assert "February 4, 2027" in body
    assert f"https://billing.acme.example/p/invoices/{invoice.id}" in body
    assert "text/html" in {part.get_content_type() for part in message.walk()}
