"""Cancelling through the pages, with JavaScript off (form, 303, page) and with htmx (the panel
swapped in place): the retention offers first, the confirmation with its reason survey, renewing
afterwards, and what goes wrong (bad input, a stale page, the feature switched off)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.billing import invoicing
from portal.events import AuditEvent
from tests.subscriptions.conftest import soup, text_of

STALE = "This subscription changed since you opened this page. Check it and try again."


def form_values(form) -> dict[str, str]:
    """What a browser sends for ``form`` as drawn (checked radios only)."""
    values = {}
    for field in form.select("input[name], textarea[name]"):
        if field.get("type") == "radio" and not field.has_attr("checked"):
            continue
        values[field["name"]] = field.get("value", field.text)
    return values


def announced(fragment) -> str | None:
    region = fragment.select_one("#announcements")
    return region.get_text(strip=True) if region is not None else None


@pytest.fixture
def offers(configure, coupon, catalog):
    """The demo's three offers: the coupon, a pause of up to three months, Starter."""
    return configure(retention_coupon_id=coupon.id, retention_pause_max_months=3,
                     retention_downgrade_price_id=catalog["starter_month"].id,
                     schedule_at_period_end_conditions=["decreasing_item_amount"])


def test_without_offers_cancel_goes_straight_to_the_confirmation(client_request, jenny_pro):
    page = client_request.get("subscriptions.cancel_offers", subscription_id=jenny_pro.id)
    assert page.h1.text == "Cancel your Pro subscription?"
    assert page.title.text.startswith("Cancel your Pro subscription – ")
    labels = [label.text for label in page.select("fieldset label")]
    assert labels == ["Too expensive", "Missing features", "Switched to another service",
                      "No longer using it", "Customer service was less than expected",
                      "Too complex", "Quality was less than expected", "Other reason"]
    assert page.select_one("label[for=comment]").text.startswith("Anything else")


def test_cancelling_without_javascript_is_a_form_a_redirect_and_the_page(client_request,
                                                                         jenny_pro, session,
                                                                         events):
    page = client_request.get("subscriptions.confirm_cancel", subscription_id=jenny_pro.id)
    data = form_values(page.select_one("#subscription-panel form"))
    data.update(reason="too_expensive", comment="Too dear\r\nfor two of us")
    response = client_request.post_response("subscriptions.cancel_subscription",
                                            subscription_id=jenny_pro.id, _data=data)
    assert response.headers["Location"] == f"/p/subscriptions/{jenny_pro.id}"
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    flash = page.select_one(".notice[role=status]")
    assert text_of(flash).startswith("Your subscription has been cancelled. It ends on ")
    assert flash.has_attr("autofocus")
    assert page.find("button", string="Renew subscription") is not None
    session.expire_all()
    assert (jenny_pro.cancellation_feedback, jenny_pro.cancellation_comment) == (
        "too_expensive", "Too dear for two of us")
    [event] = events(jenny_pro.id)
    assert event.actor == f"customer:{jenny_pro.customer_id}"


def test_cancelling_with_htmx_swaps_the_panel_and_announces_it(client_request, jenny_pro):
    page = client_request.get("subscriptions.confirm_cancel", subscription_id=jenny_pro.id,
                              _htmx=True)
    assert page.select_one("#subscription-panel h1").has_attr("autofocus")
    assert page.title.text.startswith("Cancel your Pro subscription")
    data = form_values(page.select_one("form"))
    response = client_request.post_response("subscriptions.cancel_subscription",
                                            subscription_id=jenny_pro.id, _data=data,
                                            _htmx=True, _expected_status=200)
    assert response.headers["HX-Push-Url"] == f"/p/subscriptions/{jenny_pro.id}"
    fragment = soup(response)
    assert fragment.select_one("#subscription-panel") is not None
    assert fragment.select_one("header") is None  # only the panel
    message = announced(fragment)
    assert message.startswith("Your subscription has been cancelled. It ends on ")
    assert fragment.select_one(".notice").has_attr("autofocus")
    assert len(fragment.select("[autofocus]")) == 1


def test_a_survey_answer_that_is_not_offered_is_refused_by_its_field(client_request, jenny_pro,
                                                                    configure, session):
    configure(cancellation_reason_options=["too_expensive", "unused"])
    page = client_request.post("subscriptions.cancel_subscription", subscription_id=jenny_pro.id,
                               _data={"version": "1", "reason": "low_quality"},
                               _expected_status=422)
    assert page.title.text.startswith("Error: Cancel your Pro subscription")
    link = page.select_one(".error-summary a")
    assert (link.text, link["href"]) == ("Choose one of the reasons listed", "#reason")
    assert page.select_one("#reason") is not None
    session.expire_all()
    assert not jenny_pro.cancel_at_period_end


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_comment_over_500_characters_is_refused_and_kept_for_fixing(client_request, jenny_pro,
                                                                     session, htmx):
    page = client_request.post("subscriptions.cancel_subscription", subscription_id=jenny_pro.id,
                               _data={"version": "1", "comment": "x" * 501}, _htmx=htmx,
                               _expected_status=422)
    link = page.select_one(".error-summary a")
    assert (link.text, link["href"]) == ("Your comment must be 500 characters or fewer",
                                         "#comment")
    assert page.select_one("#comment").text.strip() == "x" * 501
    assert page.select_one("#comment")["aria-describedby"] == "comment-hint comment-error"
    assert page.title.text.startswith("Error: ")
    session.expire_all()
    assert not jenny_pro.cancel_at_period_end


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_cancel_from_a_stale_page_is_refused_and_nothing_changes(client_request, jenny_pro,
                                                                   session, htmx):
    page = client_request.post("subscriptions.cancel_subscription", subscription_id=jenny_pro.id,
                               _data={"version": "0"}, _htmx=htmx, _expected_status=409)
    problem = page.select_one("[role=alert]")
    assert problem.text == STALE and problem.has_attr("autofocus")
    session.expire_all()
    assert not jenny_pro.cancel_at_period_end and jenny_pro.version == 1


@pytest.mark.parametrize("version", ["", "abc", "-1", "１", "9" * 40])
def test_a_version_that_is_not_a_number_is_refused_without_a_500(client_request, jenny_pro,
                                                                  session, version):
    page = client_request.post("subscriptions.cancel_subscription", subscription_id=jenny_pro.id,
                               _data={"version": version}, _expected_status=422)
    assert "This form is out of date. Reload the page and try again." in text_of(page)
    session.expire_all()
    assert not jenny_pro.cancel_at_period_end


def test_cancelling_now_with_prorations_says_what_is_credited(client_request, jenny_pro,
                                                              configure, session):
    configure(subscription_cancel_mode="immediately",
              subscription_cancel_proration_behavior="create_prorations")
    page = client_request.get("subscriptions.confirm_cancel", subscription_id=jenny_pro.id)
    assert "Your subscription will end now, and $" in text_of(page.select_one("#subscription-panel p"))
    fragment = client_request.post("subscriptions.cancel_subscription",
                                   subscription_id=jenny_pro.id, _data={"version": "1"},
                                   _htmx=True, _expected_status=200)
    message = announced(fragment)
    session.expire_all()
    credit = -jenny_pro.customer.balance
    assert credit > 0
    assert message == (f"Your subscription has been cancelled. ${credit / 100:.2f} for the "
                       "unused time has been added to your account balance.")
    assert jenny_pro.status == "canceled"


def test_the_cancel_pages_do_not_exist_when_the_merchant_switched_cancelling_off(
        client_request, jenny_pro, configure):
    configure(subscription_cancel_enabled=False)
    for endpoint in ("subscriptions.cancel_offers", "subscriptions.confirm_cancel"):
        client_request.get(endpoint, subscription_id=jenny_pro.id, _expected_status=404)
    client_request.post("subscriptions.cancel_subscription", subscription_id=jenny_pro.id,
                        _data={"version": "1"}, _expected_status=404)
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    assert "Cancel subscription" not in text_of(page.main)


# ---- retention offers ------------------------------------------------------------------------

def test_the_offers_come_first_each_with_its_effect(client_request, jenny_pro, offers):
    page = client_request.get("subscriptions.cancel_offers", subscription_id=jenny_pro.id)
    assert page.h1.text == "Before you cancel your Pro subscription"
    headings = [h.text for h in page.select(".offer h2")]
    assert headings == ["50% off for 3 months", "Pause your payments", "Switch to Starter"]
    coupon = text_of(page.select_one(".offer"))
    assert "would be $14.50 instead of $29.00" in coupon
    pause_labels = [text_of(label) for label in page.select(".offer fieldset label")]
    assert [label.split(":")[0] for label in pause_labels] == ["1 month", "2 months", "3 months"]
    assert "$9.00 per month instead of $29.00 per month, from" in text_of(page.select(".offer")[2])
    no_thanks = page.find("a", string="No thanks, continue to cancel")
    assert no_thanks["href"] == f"/p/subscriptions/{jenny_pro.id}/cancel/confirm"


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_accepting_the_discount_keeps_the_subscription_and_halves_the_next_invoice(
        client_request, jenny_pro, offers, session, htmx):
    page = client_request.get("subscriptions.cancel_offers", subscription_id=jenny_pro.id)
    data = form_values(page.select(".offer form")[0])
    status = 200 if htmx else 303
    client_request.post("subscriptions.accept_offer", subscription_id=jenny_pro.id, _data=data,
                        _htmx=htmx, _expected_status=status)
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    assert "Discount" in text_of(page.select_one(".summary-list"))
    assert "$14.50 on" in text_of(page.select_one(".summary-list"))
    session.expire_all()
    assert not jenny_pro.cancel_at_period_end
    # Sent again (a replay, a second tab), with the version the answer carries: refused.
    data["version"] = str(jenny_pro.version)
    page = client_request.post("subscriptions.accept_offer", subscription_id=jenny_pro.id,
                               _data=data, _htmx=htmx, _expected_status=409)
    assert "This offer is no longer available" in page.select_one("[role=alert]").text
    assert invoicing.upcoming_invoice(session, jenny_pro, jenny_pro.current_period_start).amount_due == 1450


def test_a_pause_needs_a_length_the_page_offered(client_request, jenny_pro, offers, session):
    page = client_request.post("subscriptions.accept_offer", subscription_id=jenny_pro.id,
                               _data={"version": "1", "offer": "pause", "months": "7"},
                               _expected_status=422)
    link = page.select_one(".error-summary a")
    assert (link.text, link["href"]) == ("Choose a pause of 1 to 3 months", "#months")
    assert page.title.text.startswith("Error: Before you cancel")
    session.expire_all()
    assert jenny_pro.pause_collection_resumes_at is None


def test_accepting_a_pause_says_until_when(client_request, jenny_pro, offers, session):
    fragment = client_request.post("subscriptions.accept_offer", subscription_id=jenny_pro.id,
                                   _data={"version": "1", "offer": "pause", "months": "2"},
                                   _htmx=True, _expected_status=200)
    assert announced(fragment).startswith("Thank you for staying. Your payments are paused until ")
    assert "None until" in text_of(fragment.select_one(".summary-list"))


def test_declining_the_offers_continues_to_the_final_cancel(client_request, jenny_pro, offers,
                                                            session):
    page = client_request.get("subscriptions.confirm_cancel", subscription_id=jenny_pro.id)
    assert page.h1.text == "Cancel your Pro subscription?"
    client_request.post("subscriptions.cancel_subscription", subscription_id=jenny_pro.id,
                        _data={"version": "1", "reason": "unused"})
    session.expire_all()
    assert jenny_pro.cancel_at_period_end and jenny_pro.discount_coupon_id is None


# ---- renewing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_renewing_keeps_the_subscription(client_request, jenny_pro, session, htmx, events):
    jenny_pro.cancel_at_period_end, jenny_pro.canceled_at = True, jenny_pro.current_period_start
    session.commit()
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    data = form_values(page.select_one(".subscription-notice form"))
    if htmx:
        fragment = client_request.post("subscriptions.renew_subscription",
                                       subscription_id=jenny_pro.id, _data=data, _htmx=True,
                                       _expected_status=200)
        assert announced(fragment).startswith("Your subscription has been renewed.")
    else:
        client_request.post("subscriptions.renew_subscription", subscription_id=jenny_pro.id,
                            _data=data)
    session.expire_all()
    assert not jenny_pro.cancel_at_period_end and jenny_pro.canceled_at is None
    assert [e.data["action"] for e in events(jenny_pro.id)] == ["renewed"]


def test_after_the_period_end_renewing_is_refused_with_a_clear_message(client_request, jenny_pro,
                                                                       session, now):
    jenny_pro.cancel_at_period_end = True
    jenny_pro.current_period_end = now - timedelta(minutes=1)
    session.commit()
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    assert page.find("button", string="Renew subscription") is None
    page = client_request.post("subscriptions.renew_subscription", subscription_id=jenny_pro.id,
                               _data={"version": "1"}, _expected_status=409)
    assert "so it can no longer be renewed" in page.select_one("[role=alert]").text
    session.expire_all()
    assert jenny_pro.cancel_at_period_end
    assert session.query(AuditEvent).count() == 0
