"""Switching price or quantity through the pages: choose, preview (what is paid today and on the
next invoice), confirm; plain and with htmx; and every kind of bad input answered by its field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.invoices.models import Invoice, InvoiceItem
from tests.subscriptions.conftest import soup, text_of

STALE = "This subscription changed since you opened this page. Check it and try again."


def confirm_values(page) -> dict[str, str]:
    form = page.select_one("#subscription-panel form[method=post]")
    return {field["name"]: field.get("value", "") for field in form.select("input[name]")}


def choices(page) -> list[str]:
    return [text_of(label) for label in page.select("fieldset label")]


def test_the_change_page_lists_the_plans_and_the_quantity_range(client_request, jenny_pro,
                                                               allow_updates):
    allow_updates()
    page = client_request.get("subscriptions.change_plan", subscription_id=jenny_pro.id)
    assert page.h1.text == "Change your plan"
    assert choices(page) == ["Starter: $9.00 per month", "Pro: $29.00 per month Current plan",
                             "Pro: $290.00 per year", "Team: $15.00 per seat per month"]
    assert page.select_one("input[name=price][checked]")["value"] == jenny_pro.items[0].price_id
    assert page.select_one("#quantity-hint").text == "How many you need (Team: 1 to 50)."
    assert page.select_one("#subscription-panel form")["method"] == "get"
    assert page.select_one("#subscription-panel input[name=csrf_token]") is None


@pytest.mark.parametrize(("setup", "reason"), [
    ("disabled", "Changing plans is not available here."),
    ("unlisted", "Your Pro plan cannot be switched here."),
    ("ending", "Renew it first if you want to change your plan."),
])
def test_the_change_page_says_plainly_when_the_plan_cannot_change(client_request, jenny_pro,
                                                                 allow_updates, session, setup,
                                                                 reason):
    configuration = allow_updates()
    if setup == "disabled":
        configuration.subscription_update_enabled = False
    elif setup == "unlisted":
        configuration.subscription_update_products = configuration.subscription_update_products[2:]
    else:
        jenny_pro.cancel_at_period_end = True
    session.commit()
    page = client_request.get("subscriptions.change_plan", subscription_id=jenny_pro.id)
    assert reason in text_of(page.select_one("#subscription-panel"))
    assert page.select_one("#subscription-panel form") is None
    client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                       price=jenny_pro.items[0].price_id, version="1")


def test_an_upgrade_previews_the_prorations_on_the_next_invoice_then_applies_them(
        client_request, jenny_pro, allow_updates, catalog, session, events):
    allow_updates(subscription_update_proration_behavior="create_prorations")
    team = catalog["team_month"]
    page = client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                              price=team.id, quantity="3", version="1")
    assert page.h1.text == "Check your new plan"
    rows = {text_of(r.dt): text_of(r.dd) for r in page.select(".summary-list > div")}
    assert rows["New plan"] == "Team × 3 seats · $45.00 per month"
    assert rows["Starts"] == "Now" and rows["To pay today"] == "$0.00"
    next_invoice = [text_of(td) for td in page.select("#preview-next-heading ~ table tbody td")]
    assert next_invoice[0].startswith("Unused time on 1 × Pro after")
    assert next_invoice[2].startswith("Remaining time on 3 × Team seats after")
    previewed_total = text_of(page.select_one(".invoice-lines__total td"))
    data = confirm_values(page)
    assert data["price"] == team.id and data["quantity"] == "3" and data["proration_date"]
    client_request.post("subscriptions.confirm_change", subscription_id=jenny_pro.id, _data=data)
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    assert text_of(page.select_one(".notice[role=status]")) == (
        "Your plan is now Team × 3 seats. The difference for this period is on your next invoice.")
    # The preview's total is the next invoice's, to the cent (the same second was used).
    assert text_of(page.select_one(".next-invoice .invoice-lines__total td")) == previewed_total
    session.expire_all()
    assert (jenny_pro.items[0].price_id, jenny_pro.items[0].quantity) == (team.id, 3)
    assert len(session.scalars(select(InvoiceItem)).all()) == 2
    assert [e.data["action"] for e in events(jenny_pro.id)] == ["plan_changed"]


def test_with_htmx_each_step_swaps_the_panel_and_the_address_follows(client_request, jenny_pro,
                                                                     allow_updates, catalog):
    allow_updates()
    fragment = client_request.get("subscriptions.change_plan", subscription_id=jenny_pro.id,
                                  _htmx=True)
    assert fragment.select_one("header") is None
    assert fragment.select_one("#subscription-panel h1").has_attr("autofocus")
    assert fragment.title.text.startswith("Change your plan – ")
    form = fragment.select_one("form")
    assert form["hx-get"] == form["action"] and form["hx-target"] == "#subscription-panel"
    fragment = client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                                  price=catalog["team_month"].id, quantity="2", version="1",
                                  _htmx=True)
    assert fragment.title.text.startswith("Check your new plan")
    response = client_request.post_response("subscriptions.confirm_change",
                                            subscription_id=jenny_pro.id,
                                            _data=confirm_values(fragment), _htmx=True,
                                            _expected_status=200)
    assert response.headers["HX-Push-Url"] == f"/p/subscriptions/{jenny_pro.id}"
    fragment = soup(response)
    assert fragment.select_one("#announcements").text.strip().startswith(
        "Your plan is now Team × 2 seats.")
    assert len(fragment.select("[autofocus]")) == 1


def test_a_downgrade_is_scheduled_shown_and_can_be_cancelled(client_request, jenny_pro,
                                                            allow_updates, catalog, session):
    allow_updates(schedule_at_period_end_conditions=["decreasing_item_amount"])
    page = client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                              price=catalog["starter_month"].id, version="1")
    assert "when the period you have paid for ends" in text_of(page.select_one(".summary-list"))
    client_request.post("subscriptions.confirm_change", subscription_id=jenny_pro.id,
                        _data=confirm_values(page))
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    notice = text_of(page.select(".subscription-notice")[-1])
    assert notice.startswith("Changes to Starter ($9.00 per month) on ")
    assert "$9.00 on" in text_of(page.select_one(".summary-list"))
    form = page.select(".subscription-notice form")[-1]
    data = {i["name"]: i["value"] for i in form.select("input")}
    client_request.post("subscriptions.cancel_scheduled_change", subscription_id=jenny_pro.id,
                        _data=data)
    session.expire_all()
    assert jenny_pro.pending_update is None
    assert jenny_pro.items[0].price_id == catalog["pro_month"].id


def test_a_change_paid_now_names_the_card_and_charges_it(client_request, jenny_pro,
                                                          allow_updates, catalog, session):
    allow_updates(subscription_update_proration_behavior="always_invoice")
    page = client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                              price=catalog["team_month"].id, quantity="3", version="1")
    today = text_of(page.select_one(".summary-list"))
    assert ", charged to Visa ending in 4242" in today
    button = page.select_one("#subscription-panel form[method=post] button")
    assert button.text.startswith("Confirm and pay $")
    client_request.post("subscriptions.confirm_change", subscription_id=jenny_pro.id,
                        _data=confirm_values(page))
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    assert "has been charged to your card" in text_of(page.select_one(".notice"))
    [invoice] = session.scalars(select(Invoice)).all()
    assert invoice.status == "paid" and invoice.billing_reason == "subscription_update"


def test_a_declined_card_keeps_the_change_and_says_how_to_pay(client_request, signed_in_customer,
                                                              make_payment_method, subscribe,
                                                              allow_updates, catalog, session):
    card = make_payment_method(signed_in_customer, number="4000000000009995")
    sub = subscribe(signed_in_customer, catalog["pro_month"], default_payment_method_id=card.id)
    allow_updates(subscription_update_proration_behavior="always_invoice")
    page = client_request.get("subscriptions.preview_change", subscription_id=sub.id,
                              price=catalog["team_month"].id, quantity="3", version="1")
    fragment = client_request.post("subscriptions.confirm_change", subscription_id=sub.id,
                                   _data=confirm_values(page), _htmx=True, _expected_status=200)
    notice = text_of(fragment.select_one(".notice"))
    [invoice] = session.scalars(select(Invoice)).all()
    assert notice.startswith("Your plan is now Team × 3 seats. But the payment of $")
    assert "Your card has insufficient funds. Try another card." in notice
    assert f"Pay invoice {invoice.number}" in notice
    assert invoice.status == "open"
    assert "A payment for this subscription is overdue." in text_of(fragment)


def test_without_a_card_a_change_paid_now_cannot_be_confirmed(client_request, signed_in_customer,
                                                              subscribe, allow_updates, catalog):
    sub = subscribe(signed_in_customer, catalog["pro_month"])
    allow_updates(subscription_update_proration_behavior="always_invoice")
    page = client_request.get("subscriptions.preview_change", subscription_id=sub.id,
                              price=catalog["team_month"].id, quantity="3", version="1")
    assert "you have no card we can charge" in text_of(page.select_one(".notice--warning"))
    assert page.select_one("form[method=post][action$=change]") is None
    page = client_request.post("subscriptions.confirm_change", subscription_id=sub.id,
                               _data={"version": "1", "price": catalog["team_month"].id,
                                      "quantity": "3"}, _expected_status=409)
    assert "no card we can charge" in page.select_one("[role=alert]").text


# ---- bad input ---------------------------------------------------------------------------------

QUANTITIES = [
    ("", "Enter a quantity"),
    ("0", "Enter a quantity of at least 1"),
    ("-1", "Enter the quantity as a whole number, like 3"),
    ("abc", "Enter the quantity as a whole number, like 3"),
    ("2.5", "Enter the quantity as a whole number, like 3"),
    ("１", "Enter the quantity using the digits 0 to 9"),
    ("٣", "Enter the quantity using the digits 0 to 9"),
    ("3²", "Enter the quantity using the digits 0 to 9"),
    ("51", "Enter a quantity of at most 50"),
    ("99999999999999999999999999999999", "Enter a quantity of at most 50"),
    ("9" * 5000, "Enter a quantity of at most 50"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(("quantity", "message"), QUANTITIES,
                         ids=[repr(q[:12]) for q, _ in QUANTITIES])
def test_a_bad_quantity_is_answered_by_its_field_on_preview_and_confirm(
        client_request, jenny_pro, allow_updates, catalog, session, quantity, message, htmx):
    allow_updates()
    team = catalog["team_month"].id
    page = client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                              price=team, quantity=quantity, version="1", _htmx=htmx,
                              _expected_status=422)
    link = page.select_one(".error-summary a")
    assert (link.text, link["href"]) == (message, "#quantity")
    assert page.select_one("#quantity-error").text.strip() == f"Error: {message}"
    assert page.select_one("#quantity")["aria-invalid"] == "true"
    assert page.title.text.startswith("Error: Change your plan")
    assert page.select_one(".error-summary").has_attr("autofocus")
    page = client_request.post("subscriptions.confirm_change", subscription_id=jenny_pro.id,
                               _data={"version": "1", "price": team, "quantity": quantity},
                               _htmx=htmx, _expected_status=422)
    assert page.select_one(".error-summary a").text == message
    session.expire_all()
    assert jenny_pro.items[0].price_id == catalog["pro_month"].id and jenny_pro.version == 1


@pytest.mark.parametrize("price", ["price_doesnotexist", "", "eur", "sub_x"])
def test_a_plan_that_is_not_offered_is_refused_by_its_field(client_request, jenny_pro,
                                                           allow_updates, catalog, session, price):
    allow_updates()
    price = catalog["pro_month_eur"].id if price == "eur" else price
    page = client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                              price=price, quantity="1", version="1", _expected_status=422)
    link = page.select_one(".error-summary a")
    assert link["href"] == "#price"
    assert link.text in ("Choose one of the plans listed", "Choose a plan")
    client_request.post("subscriptions.confirm_change", subscription_id=jenny_pro.id,
                        _data={"version": "1", "price": price, "quantity": "1"},
                        _expected_status=422)
    session.expire_all()
    assert jenny_pro.items[0].price_id == catalog["pro_month"].id


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_change_from_a_stale_page_is_refused_and_nothing_applies(client_request, jenny_pro,
                                                                   allow_updates, catalog,
                                                                   session, htmx, events):
    allow_updates()
    team = catalog["team_month"].id
    page = client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                              price=team, quantity="3", version="1")
    data = confirm_values(page)
    jenny_pro.version = 2  # changed meanwhile, in another tab say
    session.commit()
    page = client_request.post("subscriptions.confirm_change", subscription_id=jenny_pro.id,
                               _data=data, _htmx=htmx, _expected_status=409)
    assert page.select_one("[role=alert]").text == STALE
    page = client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                              price=team, quantity="3", version="1", _htmx=htmx,
                              _expected_status=409)
    assert page.select_one("[role=alert]").text == STALE
    session.expire_all()
    assert jenny_pro.items[0].price_id == catalog["pro_month"].id
    assert session.scalars(select(InvoiceItem)).all() == [] and events() == []


def test_the_same_confirmation_sent_twice_applies_once(client_request, jenny_pro, allow_updates,
                                                       catalog, session, events):
    allow_updates()
    page = client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                              price=catalog["team_month"].id, quantity="3", version="1")
    data = confirm_values(page)
    client_request.post("subscriptions.confirm_change", subscription_id=jenny_pro.id, _data=data)
    client_request.post("subscriptions.confirm_change", subscription_id=jenny_pro.id, _data=data,
                        _expected_status=409)
    assert len(session.scalars(select(InvoiceItem)).all()) == 2
    assert len(events(jenny_pro.id)) == 1
