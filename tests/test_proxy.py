"""Behind a reverse proxy: which forwarded headers are believed, and what happens to bad ones."""

from __future__ import annotations

import ipaddress

import pytest
from sqlalchemy import select

from portal.events import AuditEvent
from tests.payments.cards import CVC, mm_yy

EVIL = "evil.example"
BAD_FORWARDED_FOR = [
    "x" * 100,
    "198.51.100.7" + "0" * 88,
    "198.51.100.7:4711",
    "<script>alert(1)</script>",
    "",
]


@pytest.fixture
def app_config():
    return {"PROXY_FIX_X_FOR": 1, "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://"}


@pytest.fixture
def link(session, now):
    from portal.portal_settings.operations import activate_login_link

    link = activate_login_link(session, now=now)
    session.commit()
    return link


def recorded_addresses(session) -> list[str | None]:
    session.expire_all()
    # What the requests recorded; the merchant's link activation has no client.
    return [event.ip_address for event in session.scalars(
        select(AuditEvent).where(AuditEvent.type != "login_link.activated"))]


def assert_all_ip_addresses(addresses):
    assert addresses
    for address in addresses:
        ipaddress.ip_address(address)  # raises for anything that is not one


@pytest.mark.parametrize("forwarded", BAD_FORWARDED_FOR)
def test_a_bad_forwarded_for_on_the_login_form_records_the_proxys_address(
        client, session, link, forwarded, drain_outbox):
    response = client.post(f"/p/login/{link.id}", data={"email": "jenny.rosen@example.com"},
                           headers={"X-Forwarded-For": forwarded},
                           environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert response.status_code == 303
    drain_outbox()
    assert recorded_addresses(session) == ["10.0.0.5"]


@pytest.mark.parametrize("forwarded", BAD_FORWARDED_FOR)
def test_a_bad_forwarded_for_on_add_card_saves_the_card_and_records_an_ip(
        client, session, signed_in_customer, now, forwarded):
    response = client.post("/p/payment-methods/new",
                           data={"name": "Jenny Rosen", "number": "4242 4242 4242 4242",
                                 "expiry": mm_yy(now, 30), "cvc": CVC, "postal_code": "97712"},
                           headers={"X-Forwarded-For": forwarded},
                           environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert response.status_code == 303
    assert set(recorded_addresses(session)) == {"10.0.0.5"}


def test_a_good_forwarded_for_is_the_client_address(client, session, link, drain_outbox):
    client.post(f"/p/login/{link.id}", data={"email": "jenny.rosen@example.com"},
                headers={"X-Forwarded-For": "203.0.113.9, 2001:DB8:0:0::1"},
                environ_base={"REMOTE_ADDR": "10.0.0.5"})
    drain_outbox()
    assert recorded_addresses(session) == ["2001:db8::1"]
    assert_all_ip_addresses(recorded_addresses(session))


def test_a_forwarded_host_never_reaches_a_redirect(client):
    response = client.get("/p/", headers={"X-Forwarded-Host": EVIL})
    assert response.status_code == 303
    assert EVIL not in response.headers["Location"]
    response = client.get("/static//portal.css", headers={"X-Forwarded-Host": EVIL})
    assert EVIL not in response.headers.get("Location", "")
    assert EVIL not in response.get_data(as_text=True)


def test_a_forwarded_scheme_other_than_http_or_https_is_ignored(client):
    response = client.get("/p/", headers={"X-Forwarded-Proto": "javascript"})
    assert response.status_code == 303
    assert "javascript" not in response.headers["Location"]


# ---- the development mailbox answers only to this machine -------------------------------------

class TestMailbox:
    @pytest.mark.parametrize("peer", ["127.0.0.1", "127.0.1.1", "::1"])
    def test_the_mailbox_opens_for_this_machine(self, client, peer):
        assert client.get("/dev/mailbox", environ_base={"REMOTE_ADDR": peer}).status_code == 200

    @pytest.mark.parametrize("peer", ["203.0.113.9", "10.0.0.5", "2001:db8::1", ""])
    def test_the_mailbox_does_not_exist_for_the_network(self, client, peer):
        assert client.get("/dev/mailbox", environ_base={"REMOTE_ADDR": peer}).status_code == 404
        assert client.get("/dev/mailbox/1", environ_base={"REMOTE_ADDR": peer}).status_code == 404

    def test_a_forwarded_loopback_address_does_not_open_the_mailbox(self, client):
        response = client.get("/dev/mailbox", headers={"X-Forwarded-For": "127.0.0.1"},
                              environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert response.status_code == 404
