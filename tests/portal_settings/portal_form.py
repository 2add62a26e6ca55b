"""Helpers for the portal configuration tests: the settings form as the page draws it, and the
objects a configuration names."""

from __future__ import annotations

from bs4 import BeautifulSoup

from portal.portal_settings.operations import default_configuration

PAGE = "/admin/portal/"


def shown_form(page: BeautifulSoup) -> dict[str, list[str]]:
    """What the browser would send for the settings form as drawn: every text field, select,
    hidden input, and ticked checkbox and radio (name -> values)."""
    form = page.select_one("#portal-configuration form")
    assert form is not None, "the settings form is on the page"
    data: dict[str, list[str]] = {}
    for element in form.select("input, select, textarea"):
        name = element.get("name")
        if not name:
            continue
        if element.name == "select":
            chosen = element.select_one("option[selected]") or element.select_one("option")
            value = chosen.get("value", chosen.get_text()) if chosen else ""
        elif element.get("type") in ("checkbox", "radio"):
            if not element.has_attr("checked"):
                continue
            value = element.get("value", "on")
        elif element.name == "textarea":
            value = element.get_text()
        else:
            value = element.get("value", "")
        data.setdefault(name, []).append(value)
    return data


def product_index(data: dict[str, list[str]], product_id: str) -> int:
    """The position of a product's entry in the form."""
    for name, values in data.items():
        if name.endswith("-product") and values == [product_id]:
            return int(name.split("-")[1])
    raise AssertionError(f"{product_id} is not on the form")


def fresh_configuration(session):
    session.expire_all()
    return default_configuration(session)
