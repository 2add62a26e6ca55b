"""Ways to get started: activating the login link, its live URL with a copy button, rotating it
(the old URL stops working) and deactivating it, each asked first where it breaks URLs, and each
in the audit log with the staff member."""

from __future__ import annotations

from urllib.parse import urlsplit

from bs4 import BeautifulSoup
from sqlalchemy import select

from portal.events import AuditEvent
from portal.portal_settings.models import LoginLink
from tests.portal_settings.portal_form import PAGE, fresh_configuration


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def section(client):
    return soup(client.get(PAGE)).select_one("#login-link")


def live_url(client) -> str:
    return section(client).select_one("input#login-link-url")["value"]


def activate(client) -> str:
    response = client.post("/admin/portal/login-link/activate")
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    return live_url(client)


def events(session, kind):
    session.expire_all()
    return session.scalars(select(AuditEvent).where(AuditEvent.type == kind)).all()


def test_with_no_link_the_section_offers_to_activate_one(client, signed_in_staff):
    part = section(client)
    assert part.legend.get_text(strip=True) == "Ways to get started"
    button = part.select_one("form[action='/admin/portal/login-link/activate'] button")
    assert button.get_text(strip=True) == "Activate link"
    assert part.select_one("input#login-link-url") is None


def test_activating_shows_the_live_url_with_a_copy_button_and_the_url_works(
        app, client, signed_in_staff, session):
    response = client.post("/admin/portal/login-link/activate")
    assert response.status_code == 303
    page = soup(client.get(response.headers["Location"]))
    assert "login link is active" in page.select_one(".notice").get_text()
    url = page.select_one("input#login-link-url")["value"]
    assert url.startswith(app.config["PUBLIC_URL"].rstrip("/") + "/p/login/")
    part = section(client)
    field = part.select_one("input#login-link-url")
    assert field.has_attr("readonly")
    assert part.select_one("label[for=login-link-url]").get_text(strip=True) == "Login link"
    copy = part.select_one("button[data-copy=login-link-url]")
    assert copy["type"] == "button" and copy.has_attr("hidden") and copy.get_text() == "Copy"
    assert part.select_one("#login-link-url-copied")["role"] == "status"
    assert part.find("a", string="Rotate link") and part.find("a", string="Deactivate")
    assert client.get(urlsplit(url).path).status_code == 200
    assert fresh_configuration(session).login_page_enabled is True


def test_activating_twice_keeps_the_same_url(client, signed_in_staff):
    first = activate(client)
    assert activate(client) == first


def test_rotating_asks_first_then_the_old_url_is_not_active_and_the_new_one_works(
        client, signed_in_staff, session):
    old = activate(client)
    confirm = soup(client.get("/admin/portal/login-link/rotate")).select_one("#login-link")
    assert "old URL stops working" in confirm.get_text()
    assert live_url(client) == old  # asking changed nothing
    button = confirm.select_one("form[action='/admin/portal/login-link/rotate'] button")
    assert "the old URL stops working" in button.get_text()
    assert confirm.find("a", string="Keep the current link")["href"] == PAGE
    response = client.post("/admin/portal/login-link/rotate")
    assert response.status_code == 303
    new = live_url(client)
    assert new != old
    gone = client.get(urlsplit(old).path)
    assert gone.status_code == 404 and "not active" in gone.get_data(as_text=True)
    assert client.get(urlsplit(new).path).status_code == 200


def test_deactivating_asks_first_then_every_url_is_not_active(client, signed_in_staff, session):
    url = activate(client)
    confirm = soup(client.get("/admin/portal/login-link/deactivate")).select_one("#login-link")
    assert confirm.select_one("form[action='/admin/portal/login-link/deactivate'] button")
    assert client.get(urlsplit(url).path).status_code == 200
    response = client.post("/admin/portal/login-link/deactivate")
    assert response.status_code == 303
    assert "not active" in client.get(urlsplit(url).path).get_data(as_text=True)
    part = section(client)
    assert part.select_one("input#login-link-url") is None
    assert part.find("button", string="Activate link")
    assert fresh_configuration(session).login_page_enabled is False
    assert session.scalars(select(LoginLink).where(LoginLink.active.is_(True))).all() == []


def test_a_customer_signed_in_with_the_link_must_sign_in_again_after_a_rotation(
        client, signed_in_staff, signed_in_customer):
    activate(client)
    assert client.get("/p/").status_code == 200
    client.post("/admin/portal/login-link/rotate")
    assert client.get("/p/").status_code == 303


def test_asking_to_rotate_or_deactivate_with_no_link_goes_back_to_the_page(client,
                                                                          signed_in_staff):
    for step in ("rotate", "deactivate"):
        response = client.get(f"/admin/portal/login-link/{step}")
        assert response.status_code == 303 and response.headers["Location"] == PAGE


def test_each_change_is_in_the_audit_log_with_the_staff_member(client, signed_in_staff,
                                                               session):
    activate(client)
    client.post("/admin/portal/login-link/rotate")
    client.post("/admin/portal/login-link/deactivate")
    actor = f"staff:{signed_in_staff.id}"
    for kind, count in [("login_link.activated", 1), ("login_link.rotated", 1),
                        ("login_link.deactivated", 2)]:  # a rotation deactivates the old link
        found = events(session, kind)
        assert len(found) == count, kind
        assert {event.actor for event in found} == {actor}
    # The URL is the link: it never goes into the log, which outlives it.
    ids = {link.id for link in session.scalars(select(LoginLink))}
    for event in session.scalars(select(AuditEvent)):
        assert not ids & {event.object_id, *map(str, (event.data or {}).values())}


def test_the_command_line_still_names_the_merchant(app, session):
    result = app.test_cli_runner().invoke(args=["login-link"])
    assert result.exit_code == 0 and "/p/login/" in result.output
    assert [e.actor for e in events(session, "login_link.activated")] == ["merchant"]
