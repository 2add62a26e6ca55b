"""Which language a page is shown in: the footer's choice, the merchant's portal session, the
customer's preferred locales, the browser's Accept-Language, then English."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup

from portal.i18n import shipped

SKIP_LINK = {"en": "Skip to main content", "de": "Zum Hauptinhalt springen",
             "fr": "Aller au contenu principal", "pt_BR": "Pular para o conteúdo principal",
             "ar": "الانتقال إلى المحتوى الرئيسي", "ja": "メインコンテンツへ移動"}


def _page(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def _language(page: BeautifulSoup) -> tuple[str, str, str]:
    html = page.find("html")
    return html["lang"], html["dir"], page.find("a", class_="skip-link").text


@pytest.mark.parametrize(("asked", "chosen"), [
    ("de", "de"), ("de-AT", "de_AT"), ("pt-BR", "pt_BR"), ("pt", "pt_BR"), ("PT-pt", "pt_BR"),
    ("fr_CA", "fr_CA"), ("ja-JP", "ja_JP"), ("ar-EG", "ar_EG"), ("en-GB", "en_GB"), ("sv", None),
    ("en-XX", None),
    ("", None), ("x" * 100, None), ("../../etc", None), ("de\x00", None),
])
def test_a_requested_locale_maps_to_the_shipped_one_nearest_it(asked, chosen):
    assert shipped(asked) == chosen


def test_a_regional_locale_reads_its_languages_catalogue_and_keeps_its_own_formats(
        client, session, signed_in_customer):
    signed_in_customer.preferred_locales = ["fr-CA"]
    session.commit()
    page = _page(client.get("/p/billing-information"))
    assert _language(page) == ("fr-CA", "ltr", SKIP_LINK["fr"])
    assert page.find("footer").find("option", selected=True)["value"] == "fr"


def test_a_signed_out_visitor_gets_the_first_shipped_language_their_browser_asks_for(
        client, customer):
    response = client.get("/p/", headers={"Accept-Language": "sv;q=1, fr-CA;q=0.8, de;q=0.5"},
                          follow_redirects=True)
    assert _language(_page(response)) == ("fr-CA", "ltr", SKIP_LINK["fr"])


def test_a_browser_asking_for_nothing_shipped_gets_english(client, customer):
    response = client.get("/p/", headers={"Accept-Language": "sv, fi;q=0.5"},
                          follow_redirects=True)
    assert _language(_page(response)) == ("en", "ltr", SKIP_LINK["en"])


def test_arabic_pages_are_laid_out_right_to_left(client, customer):
    response = client.get("/p/", headers={"Accept-Language": "ar"}, follow_redirects=True)
    assert _language(_page(response)) == ("ar", "rtl", SKIP_LINK["ar"])


def test_the_customers_preferred_locales_come_before_the_browsers(client, session,
                                                                  signed_in_customer):
    signed_in_customer.preferred_locales = ["sv", "pt"]
    session.commit()
    response = client.get("/p/", headers={"Accept-Language": "de"})
    assert _language(_page(response)) == ("pt-BR", "ltr", SKIP_LINK["pt_BR"])


def _sign_in_through_a_portal_session(client, session, customer, now, *, locale):
    """Sign ``customer`` (who prefers French) in through a merchant's portal session."""
    from portal.customers.auth import SESSION_KEY, open_sign_in_session
    from portal.portal_settings.models import PortalSession

    customer.preferred_locales = ["fr"]
    portal_session = PortalSession(customer_id=customer.id, locale=locale,
                                   expires_at=now + timedelta(minutes=5))
    session.add(portal_session)
    session.flush()
    _, token = open_sign_in_session(customer.id, now=now, via="portal_session",
                                    portal_session_id=portal_session.id)
    session.commit()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = token


def test_the_merchants_portal_session_locale_comes_before_the_customers(
        client, session, customer, now):
    _sign_in_through_a_portal_session(client, session, customer, now, locale="ja")
    response = client.get("/p/", headers={"Accept-Language": "de"})
    assert _language(_page(response)) == ("ja", "ltr", SKIP_LINK["ja"])


def test_an_auto_portal_session_locale_leaves_the_choice_to_the_customer(
        client, session, customer, now):
    _sign_in_through_a_portal_session(client, session, customer, now, locale="auto")
    response = client.get("/p/", headers={"Accept-Language": "de"})
    assert _language(_page(response))[0] == "fr"


def test_the_footer_switcher_changes_the_language_and_returns_to_the_same_page(
        client, session, signed_in_customer):
    signed_in_customer.preferred_locales = ["fr"]
    session.commit()
    page = _page(client.get("/p/billing-information"))
    form = page.find("footer").find("form")
    assert form["method"] == "post" and form.find("select")["name"] == "language"
    assert page.find("label", attrs={"for": form.find("select")["id"]}).text == "Langue"
    assert form.find("option", selected=True)["value"] == "fr"
    # Each language is named in its own language and marked as such for screen readers.
    assert form.find("option", value="ja")["lang"] == "ja"
    assert form.find("option", value="ja").text == "日本語"
    fields = {field["name"]: field.get("value") for field in form.find_all("input")}
    response = client.post(form["action"], data={"language": "de", "next": fields["next"]})
    assert response.status_code == 303
    assert response.headers["Location"] == "/p/billing-information"
    page = _page(client.get(response.headers["Location"]))
    assert _language(page) == ("de", "ltr", SKIP_LINK["de"])
    # The choice beats the customer's own preferred locales, and it outlasts signing out.
    client.post("/p/sign-out")
    response = client.get("/p/", headers={"Accept-Language": "fr"}, follow_redirects=True)
    assert _language(_page(response))[0] == "de"


@pytest.mark.parametrize("language", ["sv", "", "x" * 50, "<script>"])
def test_a_language_the_portal_does_not_ship_changes_nothing(client, signed_in_customer,
                                                             language):
    response = client.post("/p/language", data={"language": language, "next": "/p/invoices"})
    assert response.status_code == 400
    page = _page(client.get("/p/", headers={"Accept-Language": "de"}))
    assert _language(page)[0] == "de"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)", ""])
def test_the_switcher_only_returns_to_the_portals_own_pages(client, signed_in_customer, target):
    response = client.post("/p/language", data={"language": "de", "next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/p/"


def test_the_dashboard_stays_in_english_without_a_switcher(client, signed_in_staff):
    page = _page(client.get("/admin/", headers={"Accept-Language": "de"}))
    assert _language(page) == ("en", "ltr", SKIP_LINK["en"])
    assert page.find("form", action="/p/language") is None
