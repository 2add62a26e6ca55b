import stripe

from portal.objects import serialize, serialize_by_id
from portal.portal_settings.models import PortalConfiguration
from portal.portal_settings.operations import activate_login_link, default_configuration
from tests.objects.conftest import assert_matches_schema


def test_a_configuration_with_every_feature_reads_back_through_stripe(session, make_price,
                                                                      now):
    price = make_price()
    config = PortalConfiguration(
        is_default=False, active=True, headline="Acme billing",
        privacy_policy_url="https://acme.example/privacy",
        terms_of_service_url="https://acme.example/terms",
        default_return_url="https://acme.example/account",
        customer_update_enabled=True, customer_update_allowed=["email", "tax_id"],
        invoice_history_enabled=False, payment_method_update_enabled=True,
        subscription_cancel_enabled=True, subscription_cancel_mode="immediately",
        subscription_cancel_proration_behavior="create_prorations",
        cancellation_reason_enabled=True, cancellation_reason_options=["too_expensive", "other"],
        subscription_update_enabled=True,
        subscription_update_default_allowed_updates=["price", "quantity"],
        subscription_update_products=[{"product": price.product_id, "prices": [price.id],
                                       "adjustable_quantity": {"enabled": True, "minimum": 1,
                                                               "maximum": 10}}],
        subscription_update_proration_behavior="always_invoice",
        schedule_at_period_end_conditions=["decreasing_item_amount"],
        trial_update_behavior="continue_trial", created=now, updated=now,
        metadata_={"site": "eu"})
    session.add(config)
    session.commit()

    data = serialize(session, config)
    c = stripe.billing_portal.Configuration.construct_from(data, "sk_test")

    assert_matches_schema("billing_portal.configuration", data)
    assert c.object == "billing_portal.configuration"
    assert c.is_default is False
    assert c.active is True
    assert c.business_profile.headline == "Acme billing"
    assert c.business_profile.privacy_policy_url == "https://acme.example/privacy"
    assert c.business_profile.terms_of_service_url == "https://acme.example/terms"
    assert c.default_return_url == "https://acme.example/account"
    features = c.features
    assert features.customer_update.enabled is True
    assert features.customer_update.allowed_updates == ["email", "tax_id"]
    assert features.invoice_history.enabled is False
    assert features.payment_method_update.enabled is True
    assert features.subscription_cancel.mode == "immediately"
    assert features.subscription_cancel.proration_behavior == "create_prorations"
    assert features.subscription_cancel.cancellation_reason.options == ["too_expensive", "other"]
    update = features.subscription_update
    assert update.enabled is True
    assert update.default_allowed_updates == ["price", "quantity"]
    assert update.proration_behavior == "always_invoice"
    assert update.products[0].product == price.product_id
    assert update.products[0].prices == [price.id]
    assert update.products[0].adjustable_quantity.maximum == 10
    assert update.schedule_at_period_end.conditions[0].type == "decreasing_item_amount"
    assert update.trial_update_behavior == "continue_trial"
    assert c.login_page.enabled is False
    assert c.login_page.url is None
    assert c.metadata.to_dict() == {"site": "eu"}


def test_the_default_configuration_with_a_login_link_gives_its_url(session, now):
    link = activate_login_link(session, now=now)
    session.commit()
    config = default_configuration(session)

    data = serialize_by_id(session, "billing_portal.configuration", config.id)

    assert_matches_schema("billing_portal.configuration", data)
    assert data["is_default"] is True
    assert data["login_page"] == {"enabled": True,
                                  "url": f"https://billing.example.com/p/login/{link.id}"}
    assert data["features"]["subscription_update"]["products"] == []
