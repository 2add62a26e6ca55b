"""Fixtures for the designer tests: real override files in the test app's instance folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.mailer import DevMail


@pytest.fixture
def write_override(app):
    """``write_override("layout.html", "...")``: write instance/templates/layout.html (the
    text dedented), making its folders, as a designer would; returns the file's path."""
    root = Path(app.instance_path) / "templates"

    def write(name: str, text: str) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def acme(session):
    from portal.portal_settings.operations import get_branding

    branding = get_branding(session)
    branding.business_name = "Acme Cloud"
    session.commit()
    return branding


@pytest.fixture
def login_link(session, now, acme):
    from portal.portal_settings.operations import activate_login_link

    link = activate_login_link(session, now=now)
    session.commit()
    return link


@pytest.fixture
def sent_mail(session, drain_outbox):
    """``sent_mail()``: the emails delivered so far (the outbox drained first)."""

    def read() -> list[DevMail]:
        drain_outbox()
        session.expire_all()
        return session.scalars(select(DevMail).order_by(DevMail.id)).all()

    return read


@pytest.fixture
def allow_name_changes(session):
    from portal.portal_settings.operations import default_configuration

    configuration = default_configuration(session)
    configuration.customer_update_enabled = True
    configuration.customer_update_allowed = ["name", "email", "phone"]
    session.commit()
    return configuration
