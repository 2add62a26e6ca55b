"""A session's URL signs the customer straight in, once, within 5 minutes; nothing else (a
second visit, a late one, a prefetch) signs anyone in, and its token stays out of logs."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from portal.customers.models import SignInSession
from portal.events import AuditEvent
from portal.portal_settings import sessions as ops
from portal.portal_settings.models import PortalSession
from tests.sessions.conftest import RETURN_URL, path_of


def page_text(response) -> str:
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return " ".join(soup.get_text(" ").split())


def test_following_the_url_signs_the_customer_in_to_the_portal_home(open_session, follow,
                                                                    client, jenny, session):
    created = open_session(jenny)
    response = follow(created)
    assert response.status_code == 303
    assert response.headers["Location"] == "/p/"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    home = client.get("/p/")
    assert home.status_code == 200
    soup = BeautifulSoup(home.get_data(as_text=True), "html.parser")
    assert soup.select_one(".return-link")["href"] == RETURN_URL
    record = session.scalars(select(SignInSession)).one()
    assert (record.customer_id, record.via, record.portal_session_id) == (
        jenny.id, "portal_session", created.portal_session.id)
    session.expire_all()
    assert created.portal_session.used_at is not None
    assert session.scalars(select(AuditEvent).where(AuditEvent.type == "login.signed_in")).one()


def test_the_url_works_once(open_session, follow, app, jenny):
    created = open_session(jenny)
    assert follow(created).status_code == 303
    second = follow(created, using=app.test_client())
    assert second.status_code == 410
    assert "This link has been used" in page_text(second)
    assert "Return to" in page_text(second)
    assert app.test_client().get("/p/").status_code == 303  # nobody else is signed in


def test_a_reload_in_the_browser_that_followed_it_grants_nothing_new(open_session, follow,
                                                                     jenny, session):
    created = open_session(jenny)
    follow(created)
    again = follow(created)
    assert (again.status_code, again.headers["Location"]) == (303, "/p/")
    assert len(session.scalars(select(SignInSession)).all()) == 1


def test_the_url_expires_unused_after_5_minutes(open_session, follow, jenny, now, monkeypatch,
                                                client):
    created = open_session(jenny, at=now - timedelta(minutes=5))
    monkeypatch.setattr("portal.portal_settings.session_views.utcnow", lambda: now)
    response = follow(created)
    assert response.status_code == 410
    text = page_text(response)
    assert "This link has expired" in text and "5 minutes" in text
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert soup.find("a", string=lambda s: s and s.startswith("Return to"))["href"] == RETURN_URL
    assert client.get("/p/").status_code == 303


@pytest.mark.parametrize("seconds, outcome", [
    (0, ops.Redeemed.SIGNED_IN),
    (299, ops.Redeemed.SIGNED_IN),
    (300, ops.Redeemed.EXPIRED),
    (3600, ops.Redeemed.EXPIRED),
])
def test_redeeming_depends_only_on_the_time_given(open_session, jenny, session, now, seconds,
                                                  outcome):
    created = open_session(jenny)
    result = ops.redeem(session, created.token, now=now + timedelta(seconds=seconds))
    assert result.outcome is outcome
    session.commit()
    again = ops.redeem(session, created.token, now=now + timedelta(seconds=seconds))
    assert again.outcome is (ops.Redeemed.USED if outcome is ops.Redeemed.SIGNED_IN
                             else ops.Redeemed.EXPIRED)


@pytest.mark.parametrize("token", ["x" * 43, "short", "bad%00token-and-more-chars", "a b" * 20])
def test_a_token_nobody_has_is_a_plain_not_found(client, token):
    response = client.get(f"/p/session/{token}")
    assert response.status_code == 404
    assert "This link does not work" in page_text(response)


@pytest.mark.parametrize("headers", [
    {"Sec-Purpose": "prefetch"},
    {"Sec-Purpose": "prefetch;prerender"},
    {"Purpose": "prefetch"},
    {"X-Moz": "prefetch"},
    {"Sec-Fetch-Mode": "no-cors"},
    {"Sec-Fetch-Mode": "cors"},
], ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items()))
def test_a_prefetch_does_not_use_the_link(open_session, follow, client, jenny, headers):
    created = open_session(jenny)
    declined = client.get(path_of(created.url), headers=headers)
    assert declined.status_code == 503
    assert client.get("/p/").status_code == 303  # not signed in
    assert follow(created).status_code == 303  # the real visit still works


def test_a_head_request_does_not_use_the_link(open_session, follow, client, jenny):
    created = open_session(jenny)
    assert client.head(path_of(created.url)).status_code == 503
    assert follow(created).status_code == 303


def test_a_client_without_fetch_metadata_still_signs_in(open_session, client, jenny):
    created = open_session(jenny)
    assert client.get(path_of(created.url)).status_code == 303


def test_the_sessions_locale_picks_the_language(open_session, follow, client, jenny):
    follow(open_session(jenny, locale="fr-CA"))
    home = BeautifulSoup(client.get("/p/").get_data(as_text=True), "html.parser")
    assert home.html["lang"].startswith("fr")
    assert home.select_one(".site-nav")  # French, and the whole portal


def test_the_used_page_speaks_the_sessions_language(open_session, follow, app, jenny):
    created = open_session(jenny, locale="de")
    follow(created)
    second = follow(created, using=app.test_client())
    assert BeautifulSoup(second.get_data(as_text=True), "html.parser").html["lang"] == "de"


def test_a_deleted_customers_session_signs_nobody_in(open_session, follow, jenny, session,
                                                     client):
    created = open_session(jenny)
    jenny.deleted = True
    session.commit()
    assert follow(created).status_code == 404
    assert client.get("/p/").status_code == 303


def test_the_token_never_reaches_a_log_line(open_session, jenny, app, caplog):
    created = open_session(jenny)
    with caplog.at_level(logging.INFO):
        logging.getLogger("werkzeug").info('127.0.0.1 - - "%s" %s -',
                                           f"GET {path_of(created.url)} HTTP/1.1", 303)
        app.logger.error("Exception on %s [GET]", path_of(created.url))
        app.logger.error(f"Exception on {path_of(created.url)} [GET]")
    assert len(caplog.records) == 3
    for record in caplog.records:
        assert created.token not in record.getMessage()
        assert "/p/session/[redacted]" in record.getMessage()


def test_two_visits_at_once_sign_in_exactly_one(open_session, jenny, app, session):
    """Two browsers (or a double request) follow the URL at the same moment: the
    compare-and-set UPDATE lets exactly one win; the other reads "used"."""
    created = open_session(jenny)
    answers: list = [None, None]
    start = threading.Barrier(2)

    def visit(index):
        client = app.test_client()
        try:
            start.wait(10)
            response = client.get(path_of(created.url), headers={"Sec-Fetch-Mode": "navigate"})
            answers[index] = (response.status_code, page_text(response))
        except Exception as error:  # reported, so a crash fails with its reason
            answers[index] = (None, repr(error))

    threads = [threading.Thread(target=visit, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [303, 410], answers
    assert "This link has been used" in next(text for status, text in answers if status == 410)
    session.expire_all()
    assert len(session.scalars(select(SignInSession)).all()) == 1
    assert session.scalars(select(PortalSession)).one().used_at is not None
