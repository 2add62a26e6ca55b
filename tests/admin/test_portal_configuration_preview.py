"""The preview: the real customer pages under the saved configuration, for a sample customer or
a real one, with nobody signed in, nothing written, and no link or button that can act."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from portal.extensions import db
from portal.portal_settings.operations import default_configuration

PREVIEW = "/admin/portal/preview"
FRAME = "/admin/portal/preview/frame"


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def frame(client, **args) -> BeautifulSoup:
    response = client.get(FRAME, query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return soup(response)


def configure(session, **values):
    config = default_configuration(session)
    for name, value in values.items():
        setattr(config, name, value)
    session.commit()


def nav(page) -> list[str]:
    return [a.get_text(strip=True) for a in page.select("nav[aria-label=Account] a")]


@pytest.fixture
def pro(make_price):
    return make_price("Pro", unit_amount=2900)


def test_the_preview_page_says_it_is_a_preview_and_frames_the_portal(client, signed_in_staff,
                                                                    make_customer):
    make_customer(email="ana@example.com", name="Ana Silva")
    page = soup(client.get(PREVIEW))
    assert page.h1.get_text(strip=True) == "Preview: how your customers will see the portal"
    iframe = page.select_one("iframe.portal-preview-frame")
    assert iframe["src"].startswith(FRAME) and "preview" in iframe["title"].lower()
    options = [o.get_text(strip=True) for o in page.select("#preview-customer option")]
    assert options[0].startswith("A sample customer") and "Ana Silva (ana@example.com)" in options


def test_the_frame_is_the_customers_page_with_a_preview_banner(client, signed_in_staff, pro):
    response = client.get(FRAME)
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    page = soup(response)
    assert page.title.get_text().startswith("Preview: Your account")
    banner = page.body.find(recursive=False)
    assert "preview-banner" in banner["class"] and "Preview." in banner.get_text()
    assert page.h1.get_text(strip=True) == "Your account"
    assert re.search(r"/portal\.[0-9a-f]{12}\.css$", page.select_one("link[rel=stylesheet]")["href"])
    assert not page.select("link[href*='admin.css']")


def test_the_preview_shows_the_saved_headline_and_footer_links(client, signed_in_staff, pro,
                                                              session):
    configure(session, headline="Manage your Acme plan",
              terms_of_service_url="https://acme.example/terms")
    page = frame(client)
    assert page.select_one(".headline").get_text(strip=True) == "Manage your Acme plan"
    terms = page.select_one(".site-footer").find("a", string="Terms of service")
    assert terms["title"] == "Goes to https://acme.example/terms" and not terms.has_attr("href")


def test_a_section_switched_off_is_gone_from_the_preview(client, signed_in_staff, pro, session):
    page = frame(client)
    assert "Invoices" in nav(page) and page.select_one("#invoices-heading")
    configure(session, invoice_history_enabled=False, payment_method_update_enabled=False)
    page = frame(client)
    assert "Invoices" not in nav(page) and "Payment methods" not in nav(page)
    assert page.select_one("#invoices-heading") is None


def test_the_cancel_button_follows_the_configuration(client, signed_in_staff, pro, session):
    page = frame(client, page="subscription")
    assert page.find("a", string="Cancel subscription")
    configure(session, subscription_cancel_enabled=False)
    assert frame(client, page="subscription").find("a", string="Cancel subscription") is None
    explained = frame(client, page="cancel")
    assert "cancelling is switched off" in explained.select_one("main").get_text()


def test_a_subscription_set_to_end_shows_the_renew_button(client, signed_in_staff, pro):
    page = frame(client, page="subscription", subscription="sub_sample_ending")
    assert page.find("button", string="Renew subscription")
    assert page.find("a", string="Cancel subscription") is None


def test_the_change_plan_button_shows_when_switching_is_on(client, signed_in_staff, pro,
                                                           make_price, session):
    basic = make_price("Basic", unit_amount=900)
    assert frame(client, page="subscription").find("a", string="Change plan") is None
    configure(session, subscription_update_enabled=True,
              subscription_update_default_allowed_updates=["price"],
              subscription_update_products=[
                  {"product": p.product_id, "prices": [p.id],
                   "adjustable_quantity": {"enabled": False, "minimum": 1, "maximum": 99}}
                  for p in (pro, basic)])
    assert frame(client, page="subscription").find("a", string="Change plan")
    change = frame(client, page="change")
    assert {i["value"] for i in change.select("input[name=price]")} == {pro.id, basic.id}


def test_the_retention_offers_and_reasons_are_previewed(client, signed_in_staff, pro, make_price,
                                                        session, now):
    from portal.catalog.models import Coupon

    basic = make_price("Basic", unit_amount=900)
    coupon = Coupon(name="Half off to stay", percent_off=50, duration="once", active=True,
                    created=now, metadata_={})
    session.add(coupon)
    session.commit()
    configure(session, retention_coupon_id=coupon.id, retention_pause_max_months=2,
              retention_downgrade_price_id=basic.id,
              cancellation_reason_options=["too_expensive", "unused"])
    offers = frame(client, page="cancel")
    headings = [h.get_text(strip=True) for h in offers.select(".offer h2")]
    assert headings == ["Half off to stay", "Pause your payments", "Switch to Basic"]
    confirm = frame(client, page="cancel-confirm")
    reasons = [label.get_text(strip=True) for label in confirm.select("fieldset .choice label")]
    assert reasons == ["Too expensive", "No longer using it"]


def test_nothing_in_the_preview_can_act(client, signed_in_staff, pro, session):
    configure(session, retention_pause_max_months=1)
    for page_name in ("overview", "subscriptions", "subscription", "cancel", "cancel-confirm",
                      "change", "billing"):
        raw = client.get(FRAME, query_string={"page": page_name}).get_data(as_text=True)
        page = BeautifulSoup(raw, "html.parser")
        assert not page.select("script"), page_name
        for tag in page.find_all(True):
            assert not [a for a in tag.attrs if a.startswith("hx-") or a == "autofocus"], (
                page_name, tag.name, tag.attrs)
        for form in page.select("form"):
            assert not form.has_attr("action") and not form.has_attr("method"), page_name
        for control in page.select("button, input, select, textarea"):
            assert control.has_attr("disabled"), (page_name, control)
        assert not page.select("input[name=csrf_token]")
        for link in page.select("a[href]"):
            assert link["href"].startswith(("#", FRAME)), (page_name, link)
        assert page.find("a", string="Sign out") is None


def test_links_between_previewed_pages_stay_in_the_preview(client, signed_in_staff, pro):
    page = frame(client)
    subscriptions = next(a for a in page.select("nav a") if a.get_text() == "Subscriptions")
    assert soup(client.get(subscriptions["href"])).h1.get_text(strip=True) == "Subscriptions"
    pro_link = page.select_one(".subscription-plan a")["href"]
    assert "page=subscription" in pro_link and "subscription=sub_sample" in pro_link


def test_a_real_customer_sees_their_own_subscriptions(client, signed_in_staff, make_customer,
                                                     make_subscription, pro):
    ana = make_customer(email="ana@example.com", name="Ana Silva")
    bob = make_customer(email="bob@example.com", name="Bob Jones")
    own = make_subscription(ana, price=pro)
    other = make_subscription(bob, price=pro)
    page = frame(client, customer=ana.id)
    assert "ana@example.com" in page.select_one("main").get_text()
    detail = frame(client, customer=ana.id, page="subscription", subscription=other.id)
    # Another customer's subscription is never shown: their own takes its place.
    assert detail.find("a", string="Cancel subscription")["href"].endswith(
        f"subscription={own.id}")
    assert "as Ana Silva sees it" in detail.select_one(".preview-banner").get_text()


def test_a_customer_with_nothing_to_show_gets_a_plain_explanation(client, signed_in_staff,
                                                                 make_customer):
    ana = make_customer(email="ana@example.com", name="Ana Silva")
    page = frame(client, customer=ana.id, page="subscription")
    assert "Ana Silva has no subscription to show" in page.select_one("main").get_text()


@pytest.mark.parametrize("customer", ["cus_unknown0000000000", "sample\x00", "x" * 300])
def test_an_unknown_customer_is_a_404(client, signed_in_staff, customer):
    assert client.get(FRAME, query_string={"customer": customer}).status_code == 404
    assert client.get(PREVIEW, query_string={"customer": customer}).status_code == 404


def test_an_unknown_page_shows_the_overview(client, signed_in_staff):
    assert frame(client, page="../../etc").h1.get_text(strip=True) == "Your account"


def test_the_preview_writes_nothing(client, signed_in_staff, pro, session, make_customer,
                                    make_subscription):
    from portal.portal_settings.operations import get_branding

    ana = make_customer(email="ana@example.com", name="Ana Silva")
    make_subscription(ana, price=pro)
    default_configuration(session), get_branding(session)
    session.commit()

    def counts():
        with db.engine.connect() as connection:
            return {t.name: connection.execute(select(func.count()).select_from(t)).scalar()
                    for t in db.metadata.sorted_tables}

    before = counts()
    for who in ("sample", ana.id):
        for page_name in ("overview", "subscriptions", "subscription", "cancel",
                          "cancel-confirm", "change", "billing"):
            frame(client, customer=who, page=page_name)
    after = counts()
    before.pop("staff_session"), after.pop("staff_session")
    assert after == before


def test_a_customer_signed_in_in_the_same_browser_does_not_change_the_preview(
        client, signed_in_staff, signed_in_customer, pro):
    page = frame(client)
    assert "sam.sample@example.com" in page.select_one("main").get_text()
    assert signed_in_customer.email not in page.get_text()


def test_a_designers_template_override_shows_in_the_preview(app, client, signed_in_staff, pro):
    overrides = Path(app.instance_path) / "templates" / "customers"
    overrides.mkdir(parents=True)
    original = (Path(app.root_path).parent / "templates" / "customers" / "overview.html")
    heading = '<h1>{{ _("Your account") }}</h1>'
    assert heading in original.read_text()  # or the override below would change nothing
    (overrides / "overview.html").write_text(
        original.read_text().replace(heading, "<h1>Your Acme account</h1>"))
    assert frame(client).h1.get_text(strip=True) == "Your Acme account"
