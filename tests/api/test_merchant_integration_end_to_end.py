"""The merchant's integration, end to end, as their own code would run it: the official stripe
package makes a product, a price, a customer and a subscription, and opens a portal session
with a subscription_cancel deep link; the customer's browser follows the URL into the signed-in
portal and cancels; the merchant's webhook endpoint receives the signed
customer.subscription.updated event, which stripe.Webhook.construct_event accepts."""

from __future__ import annotations

import json
from urllib.parse import urljoin

import httpx
import pytest
import stripe
from bs4 import BeautifulSoup

from portal.subscriptions.models import Subscription
from tests.webhooks.conftest import receiver  # noqa: F401 (the fixture)


@pytest.fixture
def app_config() -> dict:
    # CSRF on, as in production: the customer's browser posts the portal's real forms.
    return {"WTF_CSRF_ENABLED": True, "WEBHOOK_ALLOW_HTTP": True}


def _form_data(form) -> dict:
    """What a browser sends for ``form`` as drawn: hidden fields, checked boxes, selects."""
    data = {}
    for field in form.select("input[name], select[name], textarea[name]"):
        kind = (field.get("type") or "").lower()
        if kind in ("checkbox", "radio") and not field.has_attr("checked"):
            continue
        if kind == "submit":
            continue
        if field.name == "select":
            chosen = field.select_one("option[selected]") or field.select_one("option")
            data[field["name"]] = chosen.get("value", "") if chosen else ""
        else:
            data[field["name"]] = field.get("value", "")
    return data


def test_a_merchant_cancels_a_subscription_through_a_deep_link_and_hears_of_it(
        stripe_client, api_server, receiver, session, drain_outbox):  # noqa: F811
    product = stripe_client.v1.products.create(params={"name": "Team plan"})
    price = stripe_client.v1.prices.create(params={
        "product": product.id, "unit_amount": 1500, "currency": "usd",
        "recurring": {"interval": "month"}})
    customer = stripe_client.v1.customers.create(params={
        "email": "jenny.rosen@example.com", "name": "Jenny Rosen"})
    subscription = stripe_client.v1.subscriptions.create(params={
        "customer": customer.id, "items": [{"price": price.id, "quantity": 3}],
        "trial_period_days": 14})
    endpoint = stripe_client.v1.webhook_endpoints.create(params={
        "url": f"{receiver.url}/stripe-webhooks",
        "enabled_events": ["customer.subscription.updated"]})
    portal_session = stripe_client.v1.billing_portal.sessions.create(params={
        "customer": customer.id, "return_url": "https://acme.example/account",
        "flow_data": {"type": "subscription_cancel",
                      "subscription_cancel": {"subscription": subscription.id},
                      "after_completion": {"type": "redirect",
                                           "redirect": {"return_url":
                                                        "https://acme.example/cancelled"}}}})

    assert subscription.status == "trialing" and subscription.items.data[0].quantity == 3
    assert portal_session.url.startswith(f"{api_server.url}/p/session/")
    assert endpoint.secret.startswith("whsec_")

    with httpx.Client(follow_redirects=False, timeout=20,
                      headers={"Sec-Fetch-Mode": "navigate", "Accept": "text/html"}) as browser:
        arrived = browser.get(portal_session.url)
        assert arrived.status_code == 303
        cancel_page = browser.get(urljoin(portal_session.url, arrived.headers["Location"]))
        assert cancel_page.status_code == 200
        page = BeautifulSoup(cancel_page.text, "html.parser")
        # Only the flow: no portal navigation to wander off into.
        assert page.select_one("nav.site-nav") is None
        assert "Team plan" in page.get_text(" ")
        form = next(f for f in page.select("form[method=post]")
                    if "cancel" in (f.get("action") or ""))
        data = _form_data(form)
        reasons = [r["value"] for r in form.select("input[type=radio]")]
        if reasons:
            data.setdefault(form.select_one("input[type=radio]")["name"], reasons[0])
        answer = browser.post(urljoin(str(cancel_page.url), form["action"]), data=data)
        # Some flows confirm in a second step (retention offers, then the confirmation).
        while answer.status_code == 200:
            step = BeautifulSoup(answer.text, "html.parser")
            form = next(f for f in step.select("form[method=post]")
                        if "cancel" in (f.get("action") or ""))
            answer = browser.post(urljoin(str(answer.url), form["action"]),
                                  data=_form_data(form))
        assert answer.status_code == 303
        assert answer.headers["Location"] == "https://acme.example/cancelled"

    session.expire_all()
    stored = session.get(Subscription, subscription.id)
    assert stored.cancel_at_period_end is True

    drain_outbox()
    assert len(receiver.requests) == 1
    delivered = receiver.requests[0]
    assert delivered.path == "/stripe-webhooks"
    event = stripe.Webhook.construct_event(delivered.body.decode(),
                                           delivered.headers["Stripe-Signature"],
                                           endpoint.secret)
    assert event.type == "customer.subscription.updated"
    assert event.data.object.id == subscription.id
    assert event.data.object.cancel_at_period_end is True
    assert event.data.previous_attributes.cancel_at_period_end is False
    assert json.loads(delivered.body)["object"] == "event"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivered.body.decode().replace("true", "false", 1),
                                       delivered.headers["Stripe-Signature"], endpoint.secret)
