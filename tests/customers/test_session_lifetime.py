"""A sign-in ends 12 hours after it began, however active the customer has been since."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.customers.models import SignInSession


@pytest.fixture
def clock(monkeypatch, now):
    """``clock(hours=...)`` moves the time the sign-in rules read to ``now`` plus that much."""

    def move(**delta):
        moment = now + timedelta(**delta)
        monkeypatch.setattr("portal.dbtypes.utcnow", lambda: moment)
        return moment

    return move


def _browse_every_50_minutes(client_request, clock, *, until_hours: float):
    minutes = 50
    while minutes < until_hours * 60:
        clock(minutes=minutes)
        client_request.get_response("customers.overview", _expected_status=200)
        minutes += 50


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_customer_active_all_day_is_signed_out_12_hours_after_signing_in(
        signed_in_customer, client_request, clock, htmx):
    _browse_every_50_minutes(client_request, clock, until_hours=12)
    clock(hours=12, minutes=1)  # last seen 11 minutes ago: not idle, but signed in too long
    response = client_request.get_response("customers.overview",
                                           _expected_status=200 if htmx else 303, _htmx=htmx)
    # htmx would follow a 303 and swap the signed-out page into the section that asked; it
    # loads HX-Redirect as the whole page (tests/browser/test_journeys_browser.py shows it).
    location = response.headers["HX-Redirect" if htmx else "Location"]
    assert location.startswith("/p/signed-out")
    assert "HX-Request" in response.headers["Vary"]


def test_a_sign_in_still_works_just_before_its_12_hours_are_up(signed_in_customer,
                                                                client_request, clock):
    _browse_every_50_minutes(client_request, clock, until_hours=12)
    clock(hours=11, minutes=59)
    page = client_request.get("customers.overview")
    assert signed_in_customer.email in page.get_text()


def test_after_12_hours_the_old_cookie_stays_useless(signed_in_customer, client_request,
                                                     clock, session):
    _browse_every_50_minutes(client_request, clock, until_hours=12)
    clock(hours=12, minutes=1)
    client_request.get_response("customers.overview", _expected_status=303)
    # Even if the clock went back (or the row were touched), the dropped cookie names nobody.
    clock(hours=1)
    client_request.get_response("customers.billing_information", _expected_status=303)
    record = session.scalars(select(SignInSession)).one()
    assert record.customer_id == signed_in_customer.id


class TestAnAbsoluteLifetimeFromTheEnvironment:
    @pytest.fixture
    def app_config(self):
        # PORTAL_SESSION_ABSOLUTE_LIFETIME=7200 arrives as a number of seconds.
        return {"SESSION_ABSOLUTE_LIFETIME": 7200}

    @pytest.mark.parametrize(("minutes", "status"), [(119, 200), (121, 303)])
    def test_the_absolute_lifetime_comes_from_the_configuration(
            self, signed_in_customer, client_request, clock, minutes, status):
        clock(minutes=60)
        client_request.get_response("customers.overview", _expected_status=200)
        clock(minutes=minutes)
        client_request.get_response("customers.overview", _expected_status=status)


def test_the_idle_limit_still_applies_within_the_12_hours(signed_in_customer, client_request,
                                                          clock):
    clock(minutes=61)
    client_request.get_response("customers.overview", _expected_status=303)
