"""The footer's links back to the merchant: only ever absolute http(s) URLs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.portal_settings.models import PortalSession


@pytest.fixture
def portal_session(signed_in_customer, session, now, sign_in_record):
    """Attach a merchant's portal session to the customer's sign-in."""

    def attach(return_url, customer=None):
        record = PortalSession(customer_id=(customer or signed_in_customer).id,
                               return_url=return_url, created=now,
                               expires_at=now + timedelta(minutes=5))
        session.add(record)
        session.flush()
        sign_in = sign_in_record(signed_in_customer)
        sign_in.via, sign_in.portal_session_id = "portal_session", record.id
        session.commit()
        return record

    return attach


def _return_link(page):
    links = [a for a in page.select("footer a") if a.text.startswith("Return to")]
    assert len(links) <= 1
    return links[0] if links else None


@pytest.mark.parametrize("endpoint", ["customers.overview", "customers.billing_information"])
def test_the_default_return_url_is_offered_on_every_page(client_request, configuration, session,
                                                         signed_in_customer, endpoint):
    configuration.default_return_url = "https://acme.example/account"
    session.commit()
    link = _return_link(client_request.get(endpoint))
    assert link["href"] == "https://acme.example/account"
    assert link.text == "Return to Billing portal"


def test_the_portal_sessions_return_url_wins(client_request, configuration, session,
                                             portal_session):
    configuration.default_return_url = "https://acme.example/account"
    session.commit()
    portal_session("https://acme.example/settings?from=billing")
    link = _return_link(client_request.get("customers.overview"))
    assert link["href"] == "https://acme.example/settings?from=billing"


@pytest.mark.parametrize("url", [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/account",
    "//evil.example/account",
    "account",
    "ftp://acme.example/",
    "https://",
    "https://acme.example/\r\nSet-Cookie: x=1",
    "",
    None,
])
def test_anything_but_an_absolute_http_url_is_never_a_link(client_request, configuration,
                                                           session, signed_in_customer, url):
    configuration.default_return_url = url
    configuration.terms_of_service_url = url
    configuration.privacy_policy_url = url
    session.commit()
    page = client_request.get("customers.overview")
    assert _return_link(page) is None
    assert page.select("footer a") == []
    if url:
        assert "javascript:" not in str(page.select_one("footer")).lower()


def test_an_unsafe_portal_session_url_falls_back_to_the_default(client_request, configuration,
                                                                session, portal_session):
    configuration.default_return_url = "http://acme.example/"
    session.commit()
    portal_session("javascript:alert(1)")
    assert _return_link(client_request.get("customers.overview"))["href"] == \
        "http://acme.example/"


def test_another_customers_portal_session_is_not_used(client_request, configuration, session,
                                                      portal_session, make_customer):
    configuration.default_return_url = "https://acme.example/mine"
    session.commit()
    portal_session("https://evil.example/", customer=make_customer(email="x@example.com"))
    assert _return_link(client_request.get("customers.overview"))["href"] == \
        "https://acme.example/mine"


def test_terms_and_privacy_links_come_from_the_configuration(client_request, configuration,
                                                             session, signed_in_customer):
    configuration.terms_of_service_url = "https://acme.example/terms"
    configuration.privacy_policy_url = "https://acme.example/privacy"
    session.commit()
    links = {a.text: a["href"] for a in client_request.get("customers.overview")
             .select("footer a")}
    assert links == {"Terms of service": "https://acme.example/terms",
                     "Privacy policy": "https://acme.example/privacy"}


def test_the_merchant_name_in_the_link_is_escaped(client_request, configuration, session,
                                                  signed_in_customer):
    from portal.portal_settings.operations import get_branding

    get_branding(session).business_name = "<b>Acme</b>"
    configuration.default_return_url = "https://acme.example/"
    session.commit()
    html = client_request.get_response("customers.overview").get_data(as_text=True)
    assert "Return to &lt;b&gt;Acme&lt;/b&gt;" in html
