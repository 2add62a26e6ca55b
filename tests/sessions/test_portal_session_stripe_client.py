"""The official stripe package makes a session through /v1/billing_portal/sessions and the
browser follows its URL into the deep-link flow; refusals come back with Stripe's param."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import stripe

from portal.api.views import RESOURCES
from tests.api.conftest import api_key, api_server, stripe_client  # noqa: F401
from tests.sessions.conftest import RETURN_URL


def test_the_endpoint_is_routed():
    assert "portal.api.resources.portal_sessions" in RESOURCES


def test_the_stripe_package_opens_a_cancel_deep_link_that_signs_in_once(
        stripe_client, api_server, jenny_pro, jenny, client, app):  # noqa: F811
    made = stripe_client.v1.billing_portal.sessions.create(params={
        "customer": jenny.id, "return_url": RETURN_URL,
        "flow_data": {"type": "subscription_cancel",
                      "subscription_cancel": {"subscription": jenny_pro.id},
                      "after_completion": {"type": "redirect",
                                           "redirect": {"return_url": RETURN_URL + "/done"}}}})
    assert made.url.startswith(f"{api_server.url}/p/session/")
    assert made.flow.type == "subscription_cancel"
    assert made.flow.after_completion.redirect.return_url == RETURN_URL + "/done"
    landed = client.get(urlsplit(made.url).path, headers={"Sec-Fetch-Mode": "navigate"})
    assert landed.headers["Location"] == f"/p/subscriptions/{jenny_pro.id}/cancel"
    assert app.test_client().get(urlsplit(made.url).path).status_code == 410


@pytest.mark.parametrize("params, param", [
    ({"return_url": "/relative"}, "return_url"),
    ({"flow_data": {"type": "subscription_cancel",
                    "subscription_cancel": {"subscription": "sub_nope"}}},
     "flow_data[subscription_cancel][subscription]"),
])
def test_a_refusal_reaches_the_stripe_package_with_its_param(stripe_client, jenny, params,  # noqa: F811
                                                             param):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.billing_portal.sessions.create(params={
            "customer": jenny.id, "return_url": RETURN_URL, **params})
    assert refused.value.param == param


def test_the_sessions_url_never_reaches_the_events_or_their_webhooks(
        stripe_client, jenny, session):  # noqa: F811
    from portal.webhooks.models import Event

    made = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": jenny.id, "return_url": RETURN_URL})

    event = session.query(Event).filter_by(type="billing_portal.session.created").one()
    assert event.body["data"]["object"]["id"] == made.id
    assert event.body["data"]["object"]["url"] is None
    assert urlsplit(made.url).path.rsplit("/", 1)[-1] not in str(event.body)
    assert stripe_client.v1.events.retrieve(event.id).data.object.url is None
