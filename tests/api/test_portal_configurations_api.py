"""/v1/billing_portal/configurations through the official stripe package."""

from __future__ import annotations

import pytest
import stripe

from portal.events import AuditEvent
from portal.portal_settings.models import PortalConfiguration
from portal.portal_settings.operations import default_configuration

FEATURES = {
    "customer_update": {"enabled": True, "allowed_updates": ["email", "address"]},
    "invoice_history": {"enabled": True},
    "payment_method_update": {"enabled": False},
    "subscription_cancel": {"enabled": True, "mode": "immediately",
                            "proration_behavior": "create_prorations",
                            "cancellation_reason": {"enabled": True,
                                                    "options": ["unused", "too_expensive"]}},
}


def test_a_configuration_made_through_stripe_python_is_what_customers_get(stripe_client,
                                                                         session):
    made = stripe_client.v1.billing_portal.configurations.create(params={
        "features": FEATURES, "business_profile": {"headline": "Acme Cloud billing",
                                                    "privacy_policy_url": "https://acme.example/privacy"},
        "default_return_url": "https://acme.example/account", "metadata": {"team": "growth"},
        "login_page": {"enabled": True}})

    stored = session.get(PortalConfiguration, made.id)
    assert made.object == "billing_portal.configuration"
    assert made.is_default is False and made.active is True
    assert stored.headline == "Acme Cloud billing"
    assert stored.customer_update_allowed == ["address", "email"]  # the catalogue's order
    assert stored.payment_method_update_enabled is False
    assert stored.subscription_cancel_mode == "immediately"
    assert stored.cancellation_reason_options == ["too_expensive", "unused"]
    assert stored.login_page_enabled is True
    assert made.features.subscription_cancel.proration_behavior == "create_prorations"
    assert made.metadata.to_dict() == {"team": "growth"}
    event = session.query(AuditEvent).filter_by(type="billing_portal.configuration.created").one()
    assert event.object_id == made.id and event.actor.startswith("api:key_")


def test_an_update_changes_only_what_is_sent_and_merges_metadata(stripe_client, session):
    made = stripe_client.v1.billing_portal.configurations.create(
        params={"features": FEATURES, "metadata": {"a": "1", "b": "2"}})

    updated = stripe_client.v1.billing_portal.configurations.update(made.id, params={
        "features": {"invoice_history": {"enabled": False}},
        "metadata": {"a": "", "c": "3"}, "active": False})

    session.expire_all()
    stored = session.get(PortalConfiguration, made.id)
    assert updated.features.invoice_history.enabled is False
    assert stored.subscription_cancel_mode == "immediately"  # untouched
    assert updated.metadata.to_dict() == {"b": "2", "c": "3"}
    assert updated.active is False
    changes = session.query(AuditEvent).filter_by(
        type="billing_portal.configuration.updated").all()
    assert changes and all(e.object_id == made.id for e in changes)


def test_the_default_configuration_cannot_be_turned_off(stripe_client, session):
    config = default_configuration(session)
    session.commit()

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.billing_portal.configurations.update(config.id,
                                                              params={"active": False})

    assert refused.value.param == "active"
    session.expire_all()
    assert session.get(PortalConfiguration, config.id).active is True


def test_a_rule_between_settings_is_refused_naming_the_setting(stripe_client, session):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.billing_portal.configurations.create(params={"features": {
            "subscription_cancel": {"enabled": True, "mode": "at_period_end",
                                    "proration_behavior": "create_prorations"}}})

    assert refused.value.param == "features[subscription_cancel][proration_behavior]"
    assert "immediately" in refused.value.user_message
    assert session.query(PortalConfiguration).count() == 0


def test_plan_changes_need_real_products_and_their_prices(stripe_client, make_price, session):
    price = make_price(name="Team")
    session.commit()
    params = {"features": {"subscription_update": {
        "enabled": True, "default_allowed_updates": ["price"],
        "products": [{"product": price.product_id, "prices": ["price_nope"]}]}}}

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.billing_portal.configurations.create(params=params)
    params["features"]["subscription_update"]["products"][0]["prices"] = [price.id]
    made = stripe_client.v1.billing_portal.configurations.create(params=params)

    assert refused.value.param == "features[subscription_update][products]"
    assert made.features.subscription_update.products[0].prices == [price.id]


def test_the_list_filters_by_default_and_pages_with_cursors(stripe_client, session):
    default = default_configuration(session)
    session.commit()
    made = [stripe_client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}}) for _ in range(3)]

    first = stripe_client.v1.billing_portal.configurations.list(params={"limit": 2})
    rest = stripe_client.v1.billing_portal.configurations.list(
        params={"limit": 2, "starting_after": first.data[-1].id})
    back = stripe_client.v1.billing_portal.configurations.list(
        params={"limit": 2, "ending_before": rest.data[0].id})
    defaults = stripe_client.v1.billing_portal.configurations.list(params={"is_default": True})

    everything = [c.id for c in first.data] + [c.id for c in rest.data]
    assert sorted(everything) == sorted([default.id] + [c.id for c in made])
    assert first.has_more is True and rest.has_more is False
    assert [c.id for c in back.data] == [c.id for c in first.data]
    assert [c.id for c in defaults.data] == [default.id]
    assert first.url == "/v1/billing_portal/configurations"
