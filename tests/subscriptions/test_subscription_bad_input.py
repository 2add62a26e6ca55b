"""Every subscription form, with plan changes and retention offers switched on, refuses every
kind of unusable value in every field (plain and with htmx): a 4xx, never a 5xx, and no row of
any table changes. tests/test_fuzz_forms.py walks every form of the portal the same way with the
default configuration; this walks the rules that only exist when the merchant turns them on."""

from __future__ import annotations

import pytest

from tests.conftest import HTMX_HEADERS
from tests.test_fuzz_forms import REFUSED, snapshot

ROUTES = {
    "cancel": ("/p/subscriptions/{id}/cancel",
               {"version": "1", "reason": "too_expensive", "comment": "Too dear"}),
    "offer": ("/p/subscriptions/{id}/retention-offer",
              {"version": "1", "offer": "pause", "months": "1"}),
    "renew": ("/p/subscriptions/{id}/renew", {"version": "1"}),
    "change": ("/p/subscriptions/{id}/change",
               {"version": "1", "price": "{team}", "quantity": "3", "proration_date": ""}),
    "scheduled change": ("/p/subscriptions/{id}/scheduled-change/cancel", {"version": "1"}),
}


@pytest.fixture
def everything_on(jenny_pro, allow_updates, configure, coupon, catalog):
    allow_updates()
    configure(retention_coupon_id=coupon.id, retention_pause_max_months=3,
              retention_downgrade_price_id=catalog["starter_month"].id)
    return jenny_pro


@pytest.mark.parametrize("route", ROUTES)
def test_every_unusable_value_in_every_field_is_refused_and_changes_nothing(
        client, everything_on, catalog, route):
    url, fields = ROUTES[route]
    url = url.format(id=everything_on.id)
    fields = {k: v.format(team=catalog["team_month"].id) for k, v in fields.items()}
    client.get(f"/p/subscriptions/{everything_on.id}")  # makes the branding row, once
    before = snapshot()
    failures = []
    for name in fields:
        for kind, value in REFUSED.items():
            for htmx in (False, True):
                response = client.post(url, data={**fields, name: value},
                                       headers=HTMX_HEADERS if htmx else {})
                if not 400 <= response.status_code < 500:
                    failures.append((name, kind, htmx, response.status_code))
    assert not failures, failures
    assert snapshot() == before
