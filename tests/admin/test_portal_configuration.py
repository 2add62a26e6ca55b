"""The portal configuration page: every section shown as saved, a save that changes what it
says and is in the audit log with the staff member, and every bad value refused by its field
with nothing saved, plainly and through htmx."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from portal.catalog.models import Coupon
from portal.events import AuditEvent
from tests.conftest import HTMX_HEADERS
from tests.portal_settings.portal_form import PAGE, fresh_configuration, product_index, shown_form

SECTIONS = ["Ways to get started", "Business information", "Customer information",
            "Payment methods", "Invoice history", "Cancellations", "Subscription updates"]


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


@pytest.fixture
def catalogue(make_price, session, now):
    """Pro (monthly and yearly), Team (per seat), a one-time price and an active coupon."""
    from portal.catalog.models import Price

    pro = make_price("Pro", unit_amount=2900)
    pro_yearly = Price(product=pro.product, unit_amount=29000, currency="usd",
                       recurring_interval="year", recurring_interval_count=1, active=True,
                       created=now, metadata_={})
    one_time = Price(product=pro.product, unit_amount=5000, currency="usd",
                     recurring_interval=None, active=True, created=now, metadata_={})
    coupon = Coupon(name="Stay with us", percent_off=50, duration="repeating",
                    duration_in_months=3, active=True, created=now, metadata_={})
    session.add_all([pro_yearly, one_time, coupon])
    session.commit()
    team = make_price("Team", unit_amount=1000, unit_label="seat")
    return {"pro": pro, "pro_yearly": pro_yearly, "one_time": one_time, "team": team,
            "coupon": coupon}


@pytest.fixture
def form(client, signed_in_staff, catalogue):
    """The settings form as the page draws it, ready to post (values are lists)."""
    return shown_form(soup(client.get(PAGE)))


def post(client, data, *, htmx=False):
    return client.post(PAGE, data=data, headers=HTMX_HEADERS if htmx else {})


def with_product(form, product, prices, *, quantity=None):
    """``form`` with ``product`` ticked for switching, with ``prices`` and a quantity range."""
    index = product_index(form, product.id)
    data = dict(form)
    data[f"products-{index}-selected"] = ["y"]
    data[f"products-{index}-prices"] = [p.id for p in prices]
    if quantity is not None:
        data[f"products-{index}-quantity_enabled"] = ["y"]
        data[f"products-{index}-minimum"] = [str(quantity[0])]
        data[f"products-{index}-maximum"] = [str(quantity[1])]
    return data


def updates_on(form, catalogue, **extra):
    data = with_product(form, catalogue["pro"].product,
                        [catalogue["pro"], catalogue["pro_yearly"]], quantity=(1, 5))
    data.update(subscription_update_enabled=["y"],
                subscription_update_default_allowed_updates=["price", "quantity"], **extra)
    return data


def config_events(session):
    session.expire_all()
    return session.scalars(select(AuditEvent).where(
        AuditEvent.type == "billing_portal.configuration.updated")).all()


# ---- the page ----------------------------------------------------------------------------------

def test_the_page_has_every_section_in_order_each_a_fieldset_with_a_legend(client,
                                                                           signed_in_staff):
    page = soup(client.get(PAGE))
    legends = [f.legend.get_text(strip=True) for f in page.select("fieldset.config-section")]
    assert legends == SECTIONS
    assert page.select_one("nav [aria-current=page]").get_text(strip=True) == "Customer portal"


def test_the_page_shows_the_settings_as_saved(client, signed_in_staff, session, catalogue):
    config = fresh_configuration(session)
    config.headline = "Manage your Acme plan"
    config.invoice_history_enabled = False
    config.subscription_cancel_mode = "immediately"
    config.cancellation_reason_options = ["too_expensive", "other"]
    config.retention_coupon_id = catalogue["coupon"].id
    session.commit()
    data = shown_form(soup(client.get(PAGE)))
    assert data["headline"] == ["Manage your Acme plan"]
    assert "invoice_history_enabled" not in data
    assert data["payment_method_update_enabled"] == ["y"]
    assert data["subscription_cancel_mode"] == ["immediately"]
    assert data["cancellation_reason_options"] == ["too_expensive", "other"]
    assert data["retention_coupon_id"] == [catalogue["coupon"].id]


def test_each_product_lists_only_its_active_recurring_prices(client, signed_in_staff, catalogue):
    page = soup(client.get(PAGE))
    data = shown_form(page)
    index = product_index(data, catalogue["pro"].product.id)
    prices = {i["value"] for i in page.select(f"input[name=products-{index}-prices]")}
    assert prices == {catalogue["pro"].id, catalogue["pro_yearly"].id}
    downgrade = {o["value"] for o in page.select("#retention_downgrade_price_id option")}
    assert catalogue["one_time"].id not in downgrade and catalogue["team"].id in downgrade


def test_saving_the_form_as_shown_changes_nothing_and_says_so(client, form, session):
    response = post(client, form)
    assert response.status_code == 303
    page = soup(client.get(response.headers["Location"]))
    assert "Nothing changed" in page.select_one(".notice").get_text()
    assert config_events(session) == []


def test_a_save_changes_every_section_and_the_page_shows_it(client, form, session, catalogue,
                                                           signed_in_staff):
    data = updates_on(form, catalogue)
    data.update(
        headline=["Your Acme account"], terms_of_service_url=["https://acme.example/terms"],
        privacy_policy_url=["https://acme.example/privacy"],
        default_return_url=["https://acme.example/account"],
        customer_update_allowed=["name", "email"], subscription_cancel_mode=["immediately"],
        subscription_cancel_proration_behavior=["create_prorations"],
        cancellation_reason_options=["unused", "too_expensive"],
        retention_coupon_id=[catalogue["coupon"].id], retention_pause_max_months=["2"],
        retention_downgrade_price_id=[catalogue["team"].id],
        subscription_update_proration_behavior=["always_invoice"],
        schedule_at_period_end_conditions=["decreasing_item_amount"],
        trial_update_behavior=["continue_trial"])
    del data["invoice_history_enabled"]
    response = post(client, data)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    config = fresh_configuration(session)
    assert config.headline == "Your Acme account"
    assert config.default_return_url == "https://acme.example/account"
    assert config.customer_update_allowed == ["email", "name"]
    assert config.invoice_history_enabled is False
    assert (config.subscription_cancel_mode, config.subscription_cancel_proration_behavior) == (
        "immediately", "create_prorations")
    assert config.cancellation_reason_options == ["too_expensive", "unused"]
    assert (config.retention_coupon_id, config.retention_pause_max_months,
            config.retention_downgrade_price_id) == (catalogue["coupon"].id, 2,
                                                     catalogue["team"].id)
    # Exactly the shape portal/subscriptions/operations.py reads.
    assert config.subscription_update_products == [{
        "product": catalogue["pro"].product.id,
        "prices": [catalogue["pro"].id, catalogue["pro_yearly"].id],
        "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 5}}]
    assert config.subscription_update_default_allowed_updates == ["price", "quantity"]
    assert config.schedule_at_period_end_conditions == ["decreasing_item_amount"]
    assert config.trial_update_behavior == "continue_trial"
    page = soup(client.get(response.headers["Location"]))
    assert "settings are saved" in page.select_one(".notice").get_text()
    assert shown_form(page)["headline"] == ["Your Acme account"]


def test_each_save_is_in_the_audit_log_with_the_staff_member_and_the_previous_values(
        client, form, session, signed_in_staff):
    assert post(client, {**form, "headline": ["First"]}).status_code == 303
    form = shown_form(soup(client.get(PAGE)))
    assert post(client, {**form, "headline": ["Second"],
                         "subscription_cancel_mode": ["immediately"]}).status_code == 303
    first, second = sorted(config_events(session), key=lambda e: e.data["previous_attributes"]
                           .get("headline") or "")
    assert {first.actor, second.actor} == {f"staff:{signed_in_staff.id}"}
    assert first.data == {"changed": ["headline"], "previous_attributes": {"headline": None}}
    assert second.data == {"changed": ["headline", "subscription_cancel_mode"],
                           "previous_attributes": {"headline": "First",
                                                   "subscription_cancel_mode": "at_period_end"}}
    assert first.object_id == fresh_configuration(session).id


def test_a_save_through_htmx_swaps_the_settings_with_a_notice(client, form, session):
    response = post(client, {**form, "headline": ["Hello"]}, htmx=True)
    assert response.status_code == 200
    fragment = soup(response)
    assert fragment.select_one("#portal-configuration")
    assert not fragment.select("html, nav")
    notice = fragment.select_one(".notice")
    assert "settings are saved" in notice.get_text() and notice.has_attr("autofocus")
    assert shown_form(fragment)["headline"] == ["Hello"]
    assert fresh_configuration(session).headline == "Hello"


# ---- every bad value refused by its field, nothing saved ----------------------------------------

LONG_HEADLINE = "x" * 61
TEXT_FIELDS = {"headline", "terms_of_service_url", "privacy_policy_url", "default_return_url"}

BAD_VALUES = [
    pytest.param({"headline": [LONG_HEADLINE]}, "headline", "60 characters or fewer",
                 id="headline of 61 characters"),
    *[pytest.param({field: [url]}, field, "starting with https://", id=f"{field}: {name}")
      for field in ("terms_of_service_url", "privacy_policy_url", "default_return_url")
      for name, url in [("javascript", "javascript:alert(1)"), ("relative", "/terms"),
                        ("protocol-relative", "//evil.example/terms"),
                        ("ftp", "ftp://acme.example/terms"), ("no host", "https://"),
                        ("data", "data:text/html,hi")]],
    pytest.param({"default_return_url": ["https://acme.example/" + "x" * 500]},
                 "default_return_url", "500 characters or fewer", id="URL too long"),
    pytest.param({"subscription_cancel_proration_behavior": ["create_prorations"]},
                 "subscription_cancel_proration_behavior", "only when subscriptions are cancelled "
                 "immediately", id="proration with at_period_end"),
    pytest.param({"subscription_cancel_mode": ["whenever"]}, "subscription_cancel_mode",
                 "Choose one of the options", id="unknown cancel mode"),
    pytest.param({"cancellation_reason_options": ["too_expensive", "bored"]},
                 "cancellation_reason_options", "Choose from the options", id="unknown reason"),
    pytest.param({"cancellation_reason_options": []}, "cancellation_reason_options",
                 "at least one reason", id="reasons asked with none chosen"),
    pytest.param({"customer_update_allowed": ["name", "password"]}, "customer_update_allowed",
                 "Choose from the options", id="unknown customer field"),
    pytest.param({"retention_pause_max_months": ["4"]}, "retention_pause_max_months",
                 "0 to 3 months", id="pause of 4 months"),
    pytest.param({"retention_pause_max_months": ["two"]}, "retention_pause_max_months",
                 "how long a pause", id="pause not a number"),
    pytest.param({"retention_coupon_id": ["co_unknown"]}, "retention_coupon_id",
                 "active coupons", id="unknown coupon"),
    pytest.param({"retention_downgrade_price_id": ["price_unknown"]},
                 "retention_downgrade_price_id", "active recurring prices", id="unknown price"),
    pytest.param({"subscription_update_proration_behavior": ["sometimes"]},
                 "subscription_update_proration_behavior", "Choose one of the options",
                 id="unknown update proration"),
    pytest.param({"schedule_at_period_end_conditions": ["always"]},
                 "schedule_at_period_end_conditions", "Choose from the options",
                 id="unknown period end condition"),
    pytest.param({"trial_update_behavior": ["forever"]}, "trial_update_behavior",
                 "Choose one of the options", id="unknown trial behaviour"),
    pytest.param({"headline": ["Tab\tin the middle"]}, "headline", "control characters",
                 id="control character"),
]


def assert_refused(response, field_id: str, message: str, session, *, htmx=False,
                   error_id: str | None = None):
    assert response.status_code == 422, response.get_data(as_text=True)[:2000]
    page = soup(response)
    summary = page.select_one(".error-summary")
    link = summary.select_one(f'a[href="#{field_id}"]')
    assert link is not None, summary
    assert message.lower() in link.get_text().lower()
    assert page.select_one(f"#{field_id}") is not None, f"the summary's link leads to #{field_id}"
    by_field = page.select_one(f"#{error_id or field_id + '-error'}")
    assert by_field is not None and message.lower() in by_field.get_text().lower()
    if not htmx:
        assert page.title.get_text().startswith("Error: ")
    assert config_events(session) == []
    return page


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("changes, field_id, message", BAD_VALUES)
def test_a_bad_value_is_refused_by_its_field_and_nothing_is_saved(client, form, session,
                                                                 changes, field_id, message,
                                                                 htmx):
    before = fresh_configuration(session)
    saved = {c.key: getattr(before, c.key) for c in before.__table__.columns}
    typed = {**form, "headline": ["Kept as typed"], **changes}
    page = assert_refused(post(client, typed, htmx=htmx), field_id, message, session, htmx=htmx)
    after = fresh_configuration(session)
    assert {c.key: getattr(after, c.key) for c in after.__table__.columns} == saved
    # Everything typed comes back as typed, a bad text included (an option that is not one
    # of the page's own cannot be drawn as chosen).
    shown = shown_form(page)
    for name, values in typed.items():
        if name in changes and name not in TEXT_FIELDS:
            continue
        assert shown.get(name, []) == values, name
    if htmx:
        assert not page.select("html") and page.select_one("#portal-configuration")


def product_field(form, product, part):
    return f"products-{product_index(form, product.id)}-{part}"


@pytest.mark.parametrize("case", ["min above max", "min 0", "max 10000", "min not a number",
                                  "unknown product", "price of another product",
                                  "one-time price", "archived price", "no price",
                                  "updates with no product", "updates with nothing allowed"])
def test_a_bad_product_choice_is_refused_by_its_field_and_nothing_is_saved(
        client, form, session, catalogue, case):
    pro, team = catalogue["pro"].product, catalogue["team"].product
    data = updates_on(form, catalogue)
    expected = {
        "min above max": (product_field(form, pro, "maximum"), "at least the minimum (6)"),
        "min 0": (product_field(form, pro, "minimum"), "from 1 to 9999"),
        "max 10000": (product_field(form, pro, "maximum"), "from 1 to 9999"),
        "min not a number": (product_field(form, pro, "minimum"), "as a whole number"),
        "unknown product": (product_field(form, team, "selected"), "not an active product"),
        "price of another product": (product_field(form, pro, "prices"),
                                     f"{catalogue['team'].id} is not one of them"),
        "one-time price": (product_field(form, pro, "prices"), "active recurring prices"),
        "archived price": (product_field(form, pro, "prices"), "active recurring prices"),
        "no price": (product_field(form, pro, "prices"), "at least one price"),
        "updates with no product": (product_field(form, pro, "selected"),
                                    "at least one product"),
        "updates with nothing allowed": ("subscription_update_default_allowed_updates",
                                         "the price, the quantity, or both"),
    }[case]
    if case == "min above max":
        data[product_field(form, pro, "minimum")] = ["6"]
    elif case == "min 0":
        data[product_field(form, pro, "minimum")] = ["0"]
    elif case == "max 10000":
        data[product_field(form, pro, "maximum")] = ["10000"]
    elif case == "min not a number":
        data[product_field(form, pro, "minimum")] = ["one"]
    elif case == "unknown product":
        data[product_field(form, team, "product")] = ["prod_unknown0000000000"]
        data[product_field(form, team, "selected")] = ["y"]
    elif case == "price of another product":
        data[product_field(form, pro, "prices")] = [catalogue["pro"].id, catalogue["team"].id]
    elif case == "one-time price":
        data[product_field(form, pro, "prices")] = [catalogue["one_time"].id]
    elif case == "archived price":
        catalogue["pro_yearly"].active = False
        session.commit()
    elif case == "no price":
        data[product_field(form, pro, "prices")] = []
    elif case == "updates with no product":
        del data[product_field(form, pro, "selected")]
    elif case == "updates with nothing allowed":
        data["subscription_update_default_allowed_updates"] = ["promotion_code"]
    before = fresh_configuration(session).subscription_update_products
    assert_refused(post(client, data), *expected, session,
                   error_id="products-error" if case == "updates with no product" else None)
    assert fresh_configuration(session).subscription_update_products == before
    assert fresh_configuration(session).subscription_update_enabled is False


def test_every_message_of_one_save_is_shown_at_once(client, form, session):
    data = {**form, "headline": [LONG_HEADLINE], "terms_of_service_url": ["javascript:x"],
            "subscription_cancel_proration_behavior": ["create_prorations"]}
    response = post(client, data)
    assert response.status_code == 422
    links = [a["href"] for a in soup(response).select(".error-summary a")]
    assert links == ["#headline", "#terms_of_service_url",
                     "#subscription_cancel_proration_behavior"]


def test_proration_is_saved_with_immediate_cancellation(client, form, session):
    response = post(client, {**form, "subscription_cancel_mode": ["immediately"],
                             "subscription_cancel_proration_behavior": ["create_prorations"]})
    assert response.status_code == 303
    assert fresh_configuration(session).subscription_cancel_proration_behavior == \
        "create_prorations"


def test_a_headline_of_60_characters_and_empty_urls_are_saved(client, form, session):
    response = post(client, {**form, "headline": ["x" * 60], "default_return_url": ["  "]})
    assert response.status_code == 303
    config = fresh_configuration(session)
    assert config.headline == "x" * 60 and config.default_return_url is None


def test_an_archived_product_still_named_by_the_configuration_is_shown_to_be_removed(
        client, form, session, catalogue):
    assert post(client, updates_on(form, catalogue)).status_code == 303
    catalogue["pro"].product.active = False
    session.commit()
    page = soup(client.get(PAGE))
    assert "Pro (archived)" in page.select_one("#subscription-updates").get_text()
    data = shown_form(page)
    assert post(client, data).status_code == 422  # kept ticked: the merchant must untick it
    del data[product_field(data, catalogue["pro"].product, "selected")]
    data["subscription_update_enabled"] = []
    assert post(client, data).status_code == 303
    assert fresh_configuration(session).subscription_update_products == []


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_save_from_a_page_drawn_before_another_save_is_refused_and_undoes_nothing(
        client, form, session, htmx):
    assert post(client, {**form, "headline": ["Saved by a colleague"]}).status_code == 303
    response = post(client, {**form, "privacy_policy_url": ["https://acme.example/privacy"]},
                    htmx=htmx)
    assert response.status_code == 409
    page = soup(response)
    assert "Someone else saved changes" in page.select_one(".notice--warning").get_text()
    config = fresh_configuration(session)
    assert (config.headline, config.privacy_policy_url) == ("Saved by a colleague", None)
    # The page shows the settings as they are now, ready to change again.
    again = shown_form(page)
    assert again["headline"] == ["Saved by a colleague"]
    again["privacy_policy_url"] = ["https://acme.example/privacy"]
    assert post(client, again).status_code == 303
    assert fresh_configuration(session).privacy_policy_url == "https://acme.example/privacy"


def test_activating_the_login_link_meanwhile_does_not_make_the_form_stale(client, form,
                                                                          session):
    client.post("/admin/portal/login-link/activate")
    assert post(client, {**form, "headline": ["Still saved"]}).status_code == 303


@pytest.mark.parametrize("body", [{}, {"headline": ["Only this"]}], ids=["empty", "one field"])
def test_a_post_that_is_not_the_whole_form_switches_nothing_off(client, form, session, body):
    response = client.post(PAGE, data=body)
    assert response.status_code == 400
    assert "nothing was saved" in soup(response).select_one(".notice--warning").get_text()
    config = fresh_configuration(session)
    assert config.invoice_history_enabled and config.subscription_cancel_enabled
    assert config_events(session) == []
