"""Jenny edits her billing details in a real Chromium: with JavaScript each section is swapped
in place; without it the same forms post, redirect and get. (Here, beside the shared browser
fixtures, so one Chromium serves the whole run.)"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.customers.models import Customer, TaxId
from portal.dbtypes import utcnow
from portal.demo import JENNY, seed_demo
from portal.portal_settings.operations import default_configuration


@pytest.fixture
def jenny(session):
    seed_demo(session, now=utcnow())
    default_configuration(session).customer_update_allowed = [
        "address", "email", "name", "phone", "shipping", "tax_id"]
    session.commit()
    return session.scalars(select(Customer).where(Customer.email == JENNY)
                           .order_by(Customer.created.desc())).first()


def saved(session, customer) -> Customer:
    session.expire_all()
    return session.get(Customer, customer.id)


def test_with_javascript_each_section_is_edited_in_place(sign_in_browser, app, session, page, live_server,
                                                         jenny):
    sign_in_browser(page, jenny)
    page.goto("/p/billing-information")
    section = page.locator("#address-section")
    section.get_by_role("link", name="Change billing address").click()
    country = section.get_by_label("Country or region")
    country.wait_for()
    assert page.url.endswith("/p/billing-information")  # swapped, not navigated
    assert section.get_by_label("State").is_visible()

    country.focus()  # as it is for someone choosing with a keyboard or a pointer
    country.select_option("GB")
    section.get_by_label("Postcode").wait_for()
    assert section.get_by_label("County (optional)").is_visible()
    assert page.evaluate("document.activeElement.id") == "address-country"
    section.get_by_label("Address line 1").fill("10 Downing Street")
    section.get_by_label("Town or city").fill("London")
    section.get_by_label("Postcode").fill("SW1A2")
    section.get_by_role("button", name="Save billing address").click()
    section.locator(".error-summary").wait_for()
    assert "Enter a real postcode" in section.locator("#address-postal_code-error").inner_text()
    assert saved(session, jenny).address_country == "US"

    section.get_by_label("Postcode").fill("sw1a 2aa")
    section.get_by_role("button", name="Save billing address").click()
    section.get_by_text("Your billing address has been updated").wait_for()
    assert "London\nSW1A 2AA\nUnited Kingdom" in section.locator("address").inner_text()
    row = saved(session, jenny)
    assert (row.address_country, row.address_postal_code, row.address_state) == (
        "GB", "SW1A 2AA", None)

    names = page.locator("#name-section")
    names.get_by_role("link", name="Change name").click()
    names.get_by_label("Name").fill("Jenny Rosen-Smith")
    names.get_by_role("button", name="Save name").click()
    names.get_by_text("Your name has been updated").wait_for()
    assert saved(session, jenny).name == "Jenny Rosen-Smith"

    phone = page.locator("#phone-section")
    phone.get_by_role("link", name="Change phone number").click()
    phone.get_by_role("link", name="Cancel").click()
    phone.get_by_role("link", name="Change phone number").wait_for()
    assert page.locator("#phone-section").count() == 1

    tax_ids = page.locator("#tax-ids-section")
    tax_ids.get_by_label("Type").select_option("eu_vat")
    tax_ids.get_by_label("Number").fill("DE136695977")
    tax_ids.get_by_role("button", name="Add tax ID").click()
    tax_ids.get_by_text("it is not a valid VAT number for Germany").first.wait_for()
    tax_ids.get_by_label("Number").fill("DE136695976")
    tax_ids.get_by_role("button", name="Add tax ID").click()
    tax_ids.get_by_text("Tax ID DE136695976 has been added").wait_for()
    tax_ids.get_by_role("button", name="Remove DE136695976").click()
    tax_ids.get_by_text("Tax ID DE136695976 has been removed").wait_for()
    session.expire_all()
    assert session.scalars(select(TaxId).where(TaxId.customer_id == jenny.id)).all() == []
    assert page.url.endswith("/p/billing-information")


def test_without_javascript_the_same_forms_post_redirect_and_get(sign_in_browser, app, session, page_without_js,
                                                                  live_server, jenny):
    page = page_without_js
    sign_in_browser(page, jenny)
    page.goto("/p/billing-information")
    page.locator("#address-section").get_by_role("link", name="Change billing address").click()
    assert re.search(r"/p/billing-information/address#address-section$", page.url)

    section = page.locator("#address-section")
    section.get_by_label("Country or region").select_option("CA")
    section.get_by_role("button", name="Save billing address").click()
    assert "These are the address fields for Canada" in section.locator(".notice").inner_text()
    assert section.get_by_label("Address line 1").input_value() == "27 Fredrick Ave"
    section.get_by_label("Province").select_option("ON")
    section.get_by_label("Town or city").fill("Ottawa")
    section.get_by_label("Postal code").fill("k1a0b1")
    section.get_by_role("button", name="Save billing address").click()
    assert page.url.endswith("/p/billing-information")
    assert "Your billing address has been updated" in page.locator(".notice").first.inner_text()
    row = saved(session, jenny)
    assert (row.address_country, row.address_state, row.address_postal_code) == (
        "CA", "ON", "K1A 0B1")

    page.locator("#tax-ids-section").get_by_label("Type").select_option("au_abn")
    page.locator("#tax-ids-section").get_by_label("Number").fill("51 824 753 556")
    page.get_by_role("button", name="Add tax ID").click()
    assert "Tax ID 51 824 753 556 has been added" in page.locator(".notice").first.inner_text()
    page.get_by_role("button", name="Remove 51 824 753 556").click()
    assert "has been removed" in page.locator(".notice").first.inner_text()
