"""Rotating or switching off the login link signs out everyone who came in through it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.customers.auth import SESSION_KEY, open_sign_in_session
from portal.customers.models import SignInSession
from portal.events import AuditEvent


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["login-link", *args])
    assert result.exit_code == 0, result.output
    return result.output


def signed_in_through_the_link(login, client, mailbox):
    login.request_code("jenny.rosen@example.com")
    login.enter_code(mailbox.latest_code())
    assert client.get("/p/").status_code == 200


def assert_sent_to_sign_in(client):
    response = client.get("/p/")
    assert response.status_code == 303
    assert "/p/signed-out" in response.headers["Location"]


@pytest.mark.parametrize("option", ["--rotate", "--deactivate"])
def test_the_command_signs_out_a_customer_who_used_the_link(app, login, client, customer,
                                                            mailbox, option):
    signed_in_through_the_link(login, client, mailbox)
    run(app, option)
    assert_sent_to_sign_in(client)


@pytest.mark.parametrize("rotate", [True, False])
def test_the_operation_ends_every_login_link_sign_in_and_says_how_many(
        app, session, now, login, client, customer, mailbox, make_customer, rotate):
    from portal.portal_settings.operations import activate_login_link, deactivate_login_links

    signed_in_through_the_link(login, client, mailbox)
    other = make_customer(email="ana.silva@example.com", name="Ana Silva")
    open_sign_in_session(other.id, now=now, via="login_link")
    session.commit()
    if rotate:
        activate_login_link(session, now=now, rotate=True)
    else:
        deactivate_login_links(session, now=now)
    session.commit()
    live = session.scalars(select(SignInSession).where(SignInSession.ended_at.is_(None))).all()
    assert live == []
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.type == "login_link.deactivated")).one()
    assert event.data == {"sign_ins_ended": 2}
    assert_sent_to_sign_in(client)


def test_a_sign_in_made_by_the_merchants_server_stays(app, session, now, login_link, client,
                                                      customer):
    _, token = open_sign_in_session(customer.id, now=now, via="portal_session")
    session.commit()
    with client.session_transaction() as cookie_session:
        cookie_session[SESSION_KEY] = token
        cookie_session.permanent = True
    run(app, "--rotate")
    assert client.get("/p/").status_code == 200


def test_printing_the_link_signs_nobody_out(app, login, client, customer, mailbox):
    signed_in_through_the_link(login, client, mailbox)
    run(app)
    assert client.get("/p/").status_code == 200
