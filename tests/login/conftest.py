"""Fixtures for the login tests: an active login link and the codes the portal emailed."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.mailer import DevMail

CODE_IN_EMAIL = re.compile(r"^\s*(\d{6})\s*$", re.MULTILINE)


@pytest.fixture
def login_link(session, now):
    from portal.portal_settings.operations import activate_login_link, get_branding

    branding = get_branding(session)
    branding.business_name = "Acme Cloud"
    branding.brand_color = "#3b2fc9"
    branding.support_email = "support@acme.example"
    link = activate_login_link(session, now=now)
    session.commit()
    return link


class Mailbox:
    """The passcode emails in the development mailbox (the outbox is drained first)."""

    def __init__(self, session, drain_outbox):
        self.session = session
        self.drain_outbox = drain_outbox

    def messages(self, to: str | None = None) -> list[DevMail]:
        self.drain_outbox()
        self.session.expire_all()
        rows = self.session.scalars(select(DevMail).order_by(DevMail.id)).all()
        return [row for row in rows
                if to is None or row.recipients.strip().lower() == to.strip().lower()]

    def codes(self, to: str | None = None) -> list[str]:
        codes = []
        for row in self.messages(to):
            match = CODE_IN_EMAIL.search(row.body_text)
            assert match, row.body_text
            codes.append(match.group(1))
        return codes

    def latest_code(self, to: str | None = None) -> str:
        codes = self.codes(to)
        assert codes, "no passcode email was sent"
        return codes[-1]


@pytest.fixture
def mailbox(session, drain_outbox) -> Mailbox:
    return Mailbox(session, drain_outbox)


class LoginFlow:
    """Drive the login pages the way a customer's browser does."""

    def __init__(self, client_request, link):
        self.client_request = client_request
        self.link = link

    def request_code(self, email, *, htmx=False, expected_status=None):
        return self.client_request.post_response(
            "login.enter_email", link_id=self.link.id, _data={"email": email}, _htmx=htmx,
            _expected_status=expected_status or (200 if htmx else 303))

    def enter_code(self, code, *, htmx=False, expected_status=None):
        return self.client_request.post_response(
            "login.enter_code", link_id=self.link.id, _data={"code": code}, _htmx=htmx,
            _expected_status=expected_status or (200 if htmx else 303))

    def resend(self, *, htmx=False, expected_status=None):
        return self.client_request.post_response(
            "login.resend_code", link_id=self.link.id, _htmx=htmx,
            _expected_status=expected_status or (200 if htmx else 303))


@pytest.fixture
def login(client_request, login_link) -> LoginFlow:
    return LoginFlow(client_request, login_link)
