"""Deep-link flows: a sign-in from a session with flow_data sees only that flow, then
after_completion decides what follows; with JavaScript off (303s) and with htmx
(HX-Redirect, never a 303 to a whole page)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from portal.events import AuditEvent
from tests.conftest import HTMX_HEADERS
from tests.sessions.conftest import RETURN_URL
from tests.subscriptions.test_cancel_pages import form_values

DONE_URL = "https://acme.example/thanks"
AFTER = {
    "portal_homepage": {"type": "portal_homepage"},
    "redirect": {"type": "redirect", "redirect": {"return_url": DONE_URL}},
    "hosted_confirmation": {"type": "hosted_confirmation",
                            "hosted_confirmation": {"custom_message": "<b>Thanks</b> & see you"}},
}


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def finished_at(response, htmx: bool) -> str:
    """Where a finishing answer sends the browser, checking it is the right kind of answer."""
    assert "HX-Request" in response.headers.get("Vary", "")
    if htmx:
        assert response.status_code == 200
        return response.headers["HX-Redirect"]
    assert response.status_code == 303
    return response.headers["Location"]


@pytest.fixture
def enter(open_session, follow, client):
    """Make a session with ``flow_data`` and follow its URL; returns where it landed."""
    def go(customer, flow_data, **params):
        response = follow(open_session(customer, flow_data=flow_data, **params))
        assert response.status_code == 303
        return response.headers["Location"]

    return go


def cancel_flow(subscription, after="portal_homepage", **extra):
    return {"type": "subscription_cancel", "after_completion": AFTER[after],
            "subscription_cancel": {"subscription": subscription.id, **extra}}


# ---- only the flow ---------------------------------------------------------------------------

def test_a_cancel_flow_opens_on_that_subscriptions_cancel_page_with_no_way_out(
        enter, client, jenny_pro, jenny):
    landed = enter(jenny, cancel_flow(jenny_pro))
    assert landed == f"/p/subscriptions/{jenny_pro.id}/cancel"
    page = soup(client.get(landed))
    assert page.h1.text == "Cancel your Pro subscription?"
    assert page.select_one(".site-nav") is None
    assert page.select_one("a.brand")["href"] == landed
    assert page.select_one(".return-link")["href"] == RETURN_URL
    keep = page.find("a", string="Keep my subscription")
    assert keep["href"] == RETURN_URL and not keep.has_attr("hx-get")


@pytest.mark.parametrize("path", ["/p/", "/p/billing-information", "/p/subscriptions", "/p/invoices",
                                  "/p/payment-methods", "/p/payment-methods/new"])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_every_other_portal_page_sends_the_customer_back_to_the_flow(
        enter, client, jenny_pro, jenny, path, htmx):
    landed = enter(jenny, cancel_flow(jenny_pro))
    response = client.get(path, headers=HTMX_HEADERS if htmx else {})
    assert finished_at(response, htmx) == landed


def test_another_subscriptions_pages_are_outside_the_flow(enter, client, jenny_pro, jenny,
                                                          subscribe, catalog):
    other = subscribe(jenny, catalog["starter_month"])
    landed = enter(jenny, cancel_flow(jenny_pro))
    for path in (f"/p/subscriptions/{other.id}/cancel", f"/p/subscriptions/{jenny_pro.id}"):
        response = client.get(path)
        assert (response.status_code, response.headers["Location"]) == (303, landed)


def test_signing_out_and_the_language_stay_open_in_a_flow(enter, client, jenny_pro, jenny):
    enter(jenny, cancel_flow(jenny_pro))
    assert client.post("/p/sign-out").headers["Location"] == "/p/signed-out"


def test_a_session_without_a_flow_opens_the_whole_portal(enter, client, jenny):
    assert enter(jenny, None) == "/p/"
    assert soup(client.get("/p/billing-information")).select_one(".site-nav") is not None


# ---- finishing each flow -----------------------------------------------------------------------

@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_cancelling_in_the_flow_then_the_portal_home_opens(enter, client, jenny_pro, jenny,
                                                           session, htmx):
    landed = enter(jenny, cancel_flow(jenny_pro))
    data = form_values(soup(client.get(landed)).select_one("#subscription-panel form"))
    response = client.post(f"/p/subscriptions/{jenny_pro.id}/cancel", data=data,
                           headers=HTMX_HEADERS if htmx else {})
    assert finished_at(response, htmx) == "/p/"
    home = soup(client.get("/p/"))
    assert "Your subscription has been cancelled" in home.select_one(".notice").text
    assert home.select_one(".site-nav") is not None  # the rest of the portal is open now
    assert client.get("/p/billing-information").status_code == 200
    session.expire_all()
    assert jenny_pro.cancel_at_period_end


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_redirect_after_completion_sends_the_browser_back_and_ends_the_sign_in(
        enter, client, jenny_pro, jenny, htmx):
    landed = enter(jenny, cancel_flow(jenny_pro, "redirect"))
    data = form_values(soup(client.get(landed)).select_one("#subscription-panel form"))
    response = client.post(f"/p/subscriptions/{jenny_pro.id}/cancel", data=data,
                           headers=HTMX_HEADERS if htmx else {})
    assert finished_at(response, htmx) == DONE_URL
    assert client.get("/p/").status_code == 303  # signed out


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_hosted_confirmation_shows_the_merchants_message_escaped(enter, client, jenny_pro,
                                                                   jenny, htmx):
    landed = enter(jenny, cancel_flow(jenny_pro, "hosted_confirmation"))
    data = form_values(soup(client.get(landed)).select_one("#subscription-panel form"))
    response = client.post(f"/p/subscriptions/{jenny_pro.id}/cancel", data=data,
                           headers=HTMX_HEADERS if htmx else {})
    assert finished_at(response, htmx) == "/p/session/done"
    done = client.get("/p/session/done")
    html = done.get_data(as_text=True)
    assert "&lt;b&gt;Thanks&lt;/b&gt; &amp; see you" in html and "<b>Thanks" not in html
    page = soup(done)
    assert "Your subscription has been cancelled" in page.select_one(".notice").text
    assert page.find("a", string=f"Return to {page.select_one('.brand span').text}")["href"] \
        == RETURN_URL
    assert page.select_one(".site-nav") is None
    # Nothing else opens afterwards: every portal page shows the confirmation.
    assert client.get("/p/").headers["Location"] == "/p/session/done"


def test_the_done_page_is_not_found_before_a_flow_is_finished(enter, client, jenny_pro, jenny):
    enter(jenny, cancel_flow(jenny_pro))
    assert client.get("/p/session/done").status_code == 404


def test_a_retention_coupon_in_the_flow_is_the_one_offer(enter, client, jenny_pro, jenny,
                                                         coupon, session, events):
    landed = enter(jenny, cancel_flow(jenny_pro, retention={
        "type": "coupon_offer", "coupon_offer": {"coupon": coupon.id}}))
    page = soup(client.get(landed))
    assert [h.text for h in page.select(".offer h2")] == [coupon.name]
    form = page.select_one(".offer form")
    response = client.post(form["action"], data=form_values(form))
    assert response.headers["Location"] == "/p/"  # taking the offer finishes the flow too
    session.expire_all()
    assert jenny_pro.discount_coupon_id == coupon.id
    assert not jenny_pro.cancel_at_period_end
    assert events(jenny_pro.id)[-1].data["offer"] == "coupon"


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_the_payment_method_flow_is_the_add_a_card_page(enter, client, jenny, card_form, htmx,
                                                        session):
    landed = enter(jenny, {"type": "payment_method_update",
                           "after_completion": AFTER["hosted_confirmation"]})
    assert landed == "/p/payment-methods/new"
    page = soup(client.get(landed))
    assert page.select_one(".site-nav") is None
    assert page.find("a", string="Cancel")["href"] == RETURN_URL
    assert client.get("/p/payment-methods").headers["Location"] == landed
    response = client.post(landed, data=card_form(), headers=HTMX_HEADERS if htmx else {})
    assert finished_at(response, htmx) == "/p/session/done"
    assert "Visa ending in 4242 has been added" in soup(client.get("/p/session/done")).text


def test_a_refused_card_keeps_the_customer_in_the_flow(enter, client, jenny, card_form):
    landed = enter(jenny, {"type": "payment_method_update"})
    response = client.post(landed, data=card_form(expiry="13/40"))
    assert response.status_code == 422
    assert client.get("/p/").headers["Location"] == landed


def test_the_update_flow_is_the_change_plan_page(enter, client, jenny_pro, jenny, catalog,
                                                 allow_updates, session):
    allow_updates()
    landed = enter(jenny, {"type": "subscription_update",
                           "subscription_update": {"subscription": jenny_pro.id},
                           "after_completion": AFTER["redirect"]})
    assert landed == f"/p/subscriptions/{jenny_pro.id}/change"
    page = soup(client.get(landed))
    assert page.select_one(".site-nav") is None
    assert page.find("a", string="Keep my current plan")["href"] == RETURN_URL
    preview = soup(client.get(f"/p/subscriptions/{jenny_pro.id}/change/preview", query_string={
        "price": catalog["pro_year"].id, "version": "1"}))
    data = form_values(preview.select_one("#subscription-panel form"))
    response = client.post(f"/p/subscriptions/{jenny_pro.id}/change", data=data)
    assert response.headers["Location"] == DONE_URL
    session.expire_all()
    assert jenny_pro.items[0].price_id == catalog["pro_year"].id


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_the_update_confirm_flow_previews_the_merchants_change_with_its_discount(
        enter, client, jenny_pro, jenny, catalog, allow_updates, coupon, session, events, htmx):
    allow_updates()
    landed = enter(jenny, {"type": "subscription_update_confirm",
                           "subscription_update_confirm": {
                               "subscription": jenny_pro.id,
                               "items": [{"id": jenny_pro.items[0].id,
                                          "price": catalog["team_month"].id, "quantity": 3}],
                               "discounts": [{"coupon": coupon.id}]}})
    assert landed == f"/p/subscriptions/{jenny_pro.id}/change/preview"
    page = soup(client.get(landed))
    summary = " ".join(page.select_one(".summary-list").get_text(" ").split())
    assert "Team × 3 seats" in summary and "Discount 50% off" in summary
    assert page.find("a", string="Choose again") is None
    # The change comes from the session: a changed query or form cannot pick another.
    tampered = soup(client.get(landed, query_string={"price": catalog["starter_month"].id}))
    assert "Team × 3 seats" in tampered.select_one(".summary-list").text
    assert client.get(f"/p/subscriptions/{jenny_pro.id}/change").headers["Location"] == landed
    data = form_values(page.select_one("#subscription-panel form"))
    data["price"], data["quantity"] = catalog["starter_month"].id, "1"
    response = client.post(f"/p/subscriptions/{jenny_pro.id}/change", data=data,
                           headers=HTMX_HEADERS if htmx else {})
    assert finished_at(response, htmx) == "/p/"
    session.expire_all()
    item = jenny_pro.items[0]
    assert (item.price_id, item.quantity) == (catalog["team_month"].id, 3)
    assert jenny_pro.discount_coupon_id == coupon.id
    changed = events(jenny_pro.id)[-1]
    assert (changed.data["action"], changed.data["coupon"]) == ("plan_changed", coupon.id)


def test_a_plain_portal_sign_in_is_not_held_to_anything(client, signed_in_customer):
    page = soup(client.get("/p/"))
    assert page.select_one(".site-nav") is not None


def test_a_finished_flow_is_finished_once(enter, client, jenny_pro, jenny, session):
    landed = enter(jenny, cancel_flow(jenny_pro))
    data = form_values(soup(client.get(landed)).select_one("#subscription-panel form"))
    client.post(f"/p/subscriptions/{jenny_pro.id}/cancel", data=data)
    signed_in = session.scalars(select(AuditEvent).where(
        AuditEvent.type == "customer.subscription.updated")).all()
    assert len(signed_in) == 1
