"""The official stripe package makes a session through /v1/billing_portal/sessions and the
browser follows its URL into the deep-link flow; refusals come back with Stripe's param."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import stripe

from portal.api.views import RESOURCES
from tests.api.conftest import api_key, api_server, stripe_client  # noqa: F401
from tests.sessions.conftest import RETURN_URL

# The lead routes the endpoint (portal/api/resources/portal_sessions.py) in portal/api/views.py.
pytestmark = pytest.mark.skipif("portal.api.resources.portal_sessions" not in RESOURCES,
                                reason="/v1/billing_portal/sessions is not routed yet")


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
