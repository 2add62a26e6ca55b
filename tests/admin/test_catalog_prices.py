"""Staff price products in the dashboard: amounts typed as merchants write them, in any
currency's decimals, once or every N days, weeks, months or years; archived prices are
offered to no new subscription, and only unused prices are deleted. The prices section works
as a plain form post and swapped in place by htmx."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.catalog.models import Price
from tests.catalog import fixtures

# The shared catalog fixtures, by name.
catalog_events, make_product = fixtures.catalog_events, fixtures.make_product

PRICE = {"amount": "29.00", "currency": "usd", "billing": "recurring", "interval_count": "1",
         "interval": "month", "nickname": ""}


def text_of(element) -> str:
    return " ".join(element.get_text(" ").split()) if element is not None else ""


def error_by(page, field_id: str) -> str:
    return text_of(page.select_one(f"#{field_id}-error")).removeprefix("Error: ")


@pytest.fixture
def team(make_product):
    return make_product("Team", unit_label="seat", prices=())


def prices_of(session, product) -> list[Price]:
    session.expire_all()
    return list(session.scalars(select(Price).where(Price.product_id == product.id)
                                .order_by(Price.created, Price.id)))


def add_price(client_request, product, _expected_status=303, _htmx=False, **fields):
    return client_request.post("admin_catalog.create_price", product_id=product.id,
                               _data={**PRICE, **fields}, _expected_status=_expected_status,
                               _htmx=_htmx)


# ---- adding prices ----------------------------------------------------------------------------

def test_a_price_added_without_javascript_goes_back_to_the_prices(client_request,
                                                                  signed_in_staff, team,
                                                                  session, catalog_events):
    response = client_request.post_response("admin_catalog.create_price", product_id=team.id,
                                            _data={**PRICE, "nickname": "Launch"})
    assert response.headers["Location"] == f"/admin/products/{team.id}"
    [price] = prices_of(session, team)
    assert (price.unit_amount, price.currency, price.recurring_interval,
            price.recurring_interval_count, price.nickname) == (2900, "usd", "month", 1, "Launch")
    page = client_request.get("admin_catalog.product_detail", product_id=team.id)
    assert text_of(page.select_one(".notice")) == "Added the price $29.00 per seat per month."
    assert "$29.00 per seat per month" in text_of(page.select_one("#prices tbody"))
    [event] = catalog_events("price.created")
    assert event.actor == f"staff:{signed_in_staff.id}"


def test_a_price_added_with_htmx_comes_back_as_the_prices_section(client_request,
                                                                  signed_in_staff, team):
    page = add_price(client_request, team, _expected_status=200, _htmx=True)
    assert page.select_one("body") is None  # the fragment, not a page
    section = page.select_one("section#prices")
    notice = section.select_one(".notice")
    assert text_of(notice) == "Added the price $29.00 per seat per month."
    assert notice.has_attr("autofocus")
    assert page.select_one("#announcements").text.strip() == text_of(notice)
    assert "$29.00 per seat per month" in text_of(section.select_one("tbody"))


AMOUNTS = [
    ("29", "usd", 2900), ("29.00", "usd", 2900), ("29.5", "usd", 2950), (" 9.99 ", "usd", 999),
    ("1,000.50", "usd", 100_050), ("1,234,567", "jpy", 1_234_567), ("0", "usd", 0),
    ("500", "jpy", 500), ("500.00", "jpy", 500), ("1.234", "kwd", 1234), (".5", "eur", 50),
    ("999999.99", "usd", 99_999_999),
]


@pytest.mark.parametrize(("typed", "currency", "minor"), AMOUNTS)
def test_amounts_typed_as_merchants_write_them_are_stored_in_minor_units(
        client_request, signed_in_staff, team, session, typed, currency, minor):
    add_price(client_request, team, amount=typed, currency=currency)
    [price] = prices_of(session, team)
    assert (price.unit_amount, price.currency) == (minor, currency)


BAD_AMOUNTS = [
    ("", "usd", "Enter the price, like 29.00"),
    ("   ", "usd", "Enter the price, like 29.00"),
    ("abc", "usd", "Enter the price as a number, like 29.00"),
    ("$29", "usd", "Enter the price as a number, like 29.00"),
    ("1e3", "usd", "Enter the price as a number, like 29.00"),
    ("NaN", "usd", "Enter the price as a number, like 29.00"),
    ("29.00.00", "usd", "Enter the price as a number, like 29.00"),
    ("１２", "usd", "Enter the price as a number, like 29.00"),
    ("-5", "usd", "Enter a price of 0 or more"),
    ("−5", "usd", "Enter a price of 0 or more"),
    ("29,50", "usd", "Use a point for decimals, like 29.00"),
    ("29.999", "usd", "USD prices have at most 2 decimals, like 29.00"),
    ("500.5", "jpy", "JPY prices are whole numbers: enter one without decimals, like 500"),
    ("1.2345", "kwd", "KWD prices have at most 3 decimals, like 29.000"),
    ("1000000", "usd", "Enter a price of at most $999,999.99"),
    ("9" * 400, "usd", "Enter a price of at most $999,999.99"),
    ("100000000", "jpy", "Enter a price of at most ¥99,999,999"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(("typed", "currency", "message"), BAD_AMOUNTS)
def test_an_amount_that_is_not_a_price_is_refused_with_what_was_typed_kept(
        client_request, signed_in_staff, team, session, catalog_events, typed, currency,
        message, htmx):
    page = add_price(client_request, team, _expected_status=422, _htmx=htmx, amount=typed,
                     currency=currency, nickname="Kept")
    assert error_by(page, "amount") == message
    assert page.select_one("#prices .error-summary a")["href"] == "#amount"
    assert page.select_one("#amount")["value"] == typed.strip()
    assert page.select_one("#nickname")["value"] == "Kept"
    assert page.select_one("#currency option[selected]")["value"] == currency
    assert prices_of(session, team) == [] and catalog_events() == []
    if htmx:
        assert page.select_one("title").text.startswith("Error: ")
    else:
        assert page.title.text.startswith("Error: Team")


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"currency": "xyz"}, "currency", "Choose a currency from the list"),
    ({"currency": ""}, "currency", "Choose a currency from the list"),
    ({"billing": "sometimes"}, "billing", "Choose recurring or one-time"),
    ({"interval": "fortnight"}, "interval", "Choose days, weeks, months or years"),
    ({"interval_count": "0"}, "interval_count",
     "Enter how often the price repeats, as a whole number of 1 or more"),
    ({"interval_count": ""}, "interval_count", "Enter how often the price repeats"),
    ({"interval_count": "1.5"}, "interval_count", "Enter how often the price repeats"),
    ({"interval_count": "-1"}, "interval_count", "Enter how often the price repeats"),
    ({"interval_count": "13"}, "interval_count",
     "A price repeats at least once a year: enter at most 12 months"),
    ({"interval_count": "53", "interval": "week"}, "interval_count", "at most 52 weeks"),
    ({"interval_count": "366", "interval": "day"}, "interval_count", "at most 365 days"),
    ({"interval_count": "2", "interval": "year"}, "interval_count", "at most 1 year"),
    ({"nickname": "n" * 251}, "nickname", "Nickname must be 250 characters or fewer"),
])
def test_the_rest_of_the_price_form_is_checked_too(client_request, signed_in_staff, team,
                                                   session, fields, field, message):
    page = add_price(client_request, team, _expected_status=422, **fields)
    assert message in error_by(page, field)
    assert prices_of(session, team) == []


@pytest.mark.parametrize(("fields", "interval", "count", "words"), [
    ({"interval_count": "3"}, "month", 3, "$29.00 per seat every 3 months"),
    ({"interval": "year"}, "year", 1, "$29.00 per seat per year"),
    ({"interval": "week", "interval_count": "2"}, "week", 2, "$29.00 per seat every 2 weeks"),
    ({"billing": "one_time", "interval_count": "nonsense"}, None, 1, "$29.00 per seat"),
])
def test_recurring_and_one_time_prices(client_request, signed_in_staff, team, session, fields,
                                       interval, count, words):
    add_price(client_request, team, **fields)
    [price] = prices_of(session, team)
    assert (price.recurring_interval, price.recurring_interval_count) == (interval, count)
    page = client_request.get("admin_catalog.product_detail", product_id=team.id)
    assert text_of(page.select_one("#prices tbody td")).startswith(words)


def test_the_currency_list_puts_the_merchants_own_currencies_first(client_request,
                                                                   signed_in_staff,
                                                                   make_product):
    make_product("Pro", prices=((2700, "eur", "month"), (27000, "eur", "year"),
                                (3000, "chf", "month")))
    product = make_product("Team", prices=())
    page = client_request.get("admin_catalog.product_detail", product_id=product.id)
    codes = [o["value"] for o in page.select("#currency option")]
    assert codes[:4] == ["eur", "chf", "usd", "gbp"]
    assert page.select_one("#currency option[selected]")["value"] == "eur"
    assert len(codes) == len(set(codes)) > 100
    assert "dem" not in codes  # Deutsche Mark: no longer a currency


# ---- archiving, unarchiving and deleting ---------------------------------------------------------

@pytest.fixture
def priced(make_product):
    return make_product("Team", unit_label="seat", prices=((1500, "usd", "month"),
                                                           (15000, "usd", "year")))


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_staff_archive_and_unarchive_a_price(client_request, signed_in_staff, priced, session,
                                             catalog_events, htmx):
    monthly = priced.prices[0]
    status = 200 if htmx else 303
    page = client_request.post("admin_catalog.archive_price", product_id=priced.id,
                               price_id=monthly.id, _htmx=htmx, _expected_status=status)
    if not htmx:
        page = client_request.get("admin_catalog.product_detail", product_id=priced.id)
    assert "The $15.00 per seat per month price is archived." in [
        text_of(notice) for notice in page.select(".notice")]
    first_row = page.select_one("#prices tbody tr")
    assert "Archived" in text_of(first_row)
    assert first_row.select_one("form[action$=unarchive]") is not None
    session.expire_all()
    assert monthly.active is False
    client_request.post("admin_catalog.unarchive_price", product_id=priced.id,
                        price_id=monthly.id, _htmx=htmx, _expected_status=status)
    session.expire_all()
    assert monthly.active is True
    assert len(catalog_events("price.updated")) == 2


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_an_unused_price_is_deleted(client_request, signed_in_staff, priced, session, htmx):
    yearly = priced.prices[1]
    page = client_request.post("admin_catalog.delete_price", product_id=priced.id,
                               price_id=yearly.id, _htmx=htmx,
                               _expected_status=200 if htmx else 303)
    if not htmx:
        page = client_request.get("admin_catalog.product_detail", product_id=priced.id)
    assert "The $150.00 per seat per year price is deleted." in [
        text_of(notice) for notice in page.select(".notice")]
    assert [p.unit_amount for p in prices_of(session, priced)] == [1500]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_price_in_use_offers_no_delete_and_is_not_deleted(client_request, signed_in_staff,
                                                            priced, session, customer,
                                                            make_subscription, htmx):
    monthly = priced.prices[0]
    make_subscription(customer, price=monthly)
    page = client_request.get("admin_catalog.product_detail", product_id=priced.id)
    rows = page.select("#prices tbody tr")
    assert "In use: a subscription is on it" in text_of(rows[0])
    assert rows[0].select_one("form[action$=delete]") is None
    assert rows[1].select_one("form[action$=delete]") is not None
    page = client_request.post("admin_catalog.delete_price", product_id=priced.id,
                               price_id=monthly.id, _htmx=htmx, _expected_status=409)
    alert = page.select_one("#prices [role=alert]")
    assert text_of(alert) == ("The $15.00 per month price cannot be deleted because a "
                              "subscription is on it. Archive it instead.")
    assert alert.has_attr("autofocus")
    assert len(prices_of(session, priced)) == 2


def test_another_products_price_is_not_found(client_request, signed_in_staff, priced,
                                             make_product, session):
    other = make_product("Other")
    client_request.post("admin_catalog.delete_price", product_id=priced.id,
                        price_id=other.prices[0].id, _expected_status=404)
    assert len(prices_of(session, other)) == 1


# ---- what archiving means to customers ------------------------------------------------------------

def test_an_archived_price_is_not_offered_for_new_subscriptions(
        client_request, signed_in_staff, session, make_product, make_subscription,
        signed_in_customer, make_payment_method):
    from portal.portal_settings.operations import default_configuration

    pro = make_product("Pro", prices=((2900, "usd", "month"), (29000, "usd", "year")))
    team = make_product("Team", unit_label="seat", prices=((1500, "usd", "month"),))
    starter = make_product("Starter", prices=((900, "usd", "month"),))
    monthly, yearly = pro.prices
    subscription = make_subscription(signed_in_customer, price=monthly)
    make_payment_method(signed_in_customer)
    configuration = default_configuration(session)
    configuration.subscription_update_enabled = True
    configuration.subscription_update_default_allowed_updates = ["price"]
    configuration.subscription_update_products = [
        {"product": product.id, "prices": [price.id for price in product.prices]}
        for product in (pro, team, starter)]
    session.commit()

    def offered() -> list[str]:
        page = client_request.get("subscriptions.change_plan", subscription_id=subscription.id)
        return [text_of(label) for label in page.select("fieldset label")]

    assert offered() == ["Pro: $29.00 per month Current plan", "Pro: $290.00 per year",
                         "Team: $15.00 per seat per month", "Starter: $9.00 per month"]
    client_request.post("admin_catalog.archive_price", product_id=pro.id, price_id=yearly.id)
    client_request.post("admin_catalog.archive_product", product_id=team.id)
    assert offered() == ["Pro: $29.00 per month Current plan", "Starter: $9.00 per month"]
    page = client_request.get("subscriptions.preview_change", subscription_id=subscription.id,
                              price=yearly.id, version=str(subscription.version),
                              _expected_status=422)
    assert error_by(page, "price") == "Choose one of the plans listed"
    # The customer's own plan stays theirs when its price is archived.
    client_request.post("admin_catalog.archive_price", product_id=pro.id, price_id=monthly.id)
    assert offered() == ["Pro: $29.00 per month Current plan", "Starter: $9.00 per month"]
