"""update_configuration, the one way the configuration changes (the dashboard now, the API
later): all or nothing, checked against the configuration as it would be, and saved in the
shape the customer side reads."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.events import AuditEvent
from portal.portal_settings import operations as settings
from portal.subscriptions import operations as subscription_ops

ACTOR = "staff:stf_test"


@pytest.fixture
def config(session):
    config = settings.default_configuration(session)
    session.commit()
    return config


def update(session, config, now, expected=None, **changes):
    changed = settings.update_configuration(session, config, changes=changes, now=now,
                                            actor=ACTOR, expected=expected)
    session.commit()
    return changed


def events(session):
    return session.scalars(select(AuditEvent).where(
        AuditEvent.type == "billing_portal.configuration.updated")).all()


def test_a_partial_change_is_checked_against_what_is_saved(session, config, now):
    update(session, config, now, subscription_cancel_mode="immediately",
           subscription_cancel_proration_behavior="create_prorations")
    with pytest.raises(settings.ConfigurationRefused) as refused:
        update(session, config, now, subscription_cancel_mode="at_period_end")
    assert set(refused.value.problems) == {"subscription_cancel_proration_behavior"}
    session.rollback()
    assert config.subscription_cancel_mode == "immediately"


def test_nothing_changed_raises_no_event(session, config, now):
    assert update(session, config, now, headline=None, invoice_history_enabled=True) == []
    assert events(session) == []


def test_the_event_names_the_actor_and_the_previous_values_and_the_time_is_now(session, config,
                                                                               now):
    changed = update(session, config, now, headline="  Hello  ",
                     cancellation_reason_options=["other", "unused"])
    assert changed == ["cancellation_reason_options", "headline"]
    assert config.headline == "Hello" and config.updated == now
    assert config.cancellation_reason_options == ["unused", "other"]
    event = events(session)[0]
    assert (event.actor, event.object_id, event.created) == (ACTOR, config.id, now)
    previous = event.data["previous_attributes"]
    assert previous["headline"] is None
    assert previous["cancellation_reason_options"] == list(settings.CANCELLATION_REASONS)


@pytest.mark.parametrize("field, value", [
    ("headline", 5), ("invoice_history_enabled", "yes"), ("retention_pause_max_months", True),
    ("retention_pause_max_months", 1.5), ("customer_update_allowed", "name"),
    ("subscription_update_products", {"product": "prod_x"}),
    ("subscription_update_products", [{"product": "prod_x", "prices": "price_x"}]),
])
def test_values_of_the_wrong_kind_are_refused_not_stored(session, config, now, field, value):
    with pytest.raises(settings.ConfigurationRefused):
        update(session, config, now, **{field: value})
    assert events(session) == []


def test_a_field_that_is_not_a_setting_is_a_programming_error(session, config, now):
    with pytest.raises(ValueError, match="is_default"):
        update(session, config, now, is_default=False)


def test_what_is_saved_is_what_the_customer_side_obeys(session, config, now, make_price,
                                                       make_customer, make_subscription):
    pro = make_price("Pro", unit_amount=2900)
    team = make_price("Team", unit_amount=1000)
    subscription = make_subscription(make_customer(), price=team)
    update(session, config, now, subscription_update_enabled=True,
           subscription_update_default_allowed_updates=["price", "quantity"],
           subscription_update_products=[
               {"product": team.product_id, "prices": [team.id],
                "adjustable_quantity": {"enabled": True, "minimum": 2, "maximum": 8}},
               {"product": pro.product_id, "prices": [pro.id]}])
    session.expire_all()
    options = subscription_ops.update_options(session, subscription, now=now,
                                              configuration=config)
    assert options.allowed
    assert {p.id for p in options.prices} == {team.id, pro.id}
    assert options.quantity_range(team) == subscription_ops.QuantityRange(2, 8)
    assert options.quantity_range(pro) is None


def test_a_change_drawn_from_other_settings_is_refused(session, config, now):
    drawn = settings.configuration_fingerprint(config)
    update(session, config, now, headline="First")
    with pytest.raises(settings.StaleConfiguration):
        update(session, config, now, headline="Second", expected=drawn)
    session.rollback()
    assert update(session, config, now, headline="Second",
                  expected=settings.configuration_fingerprint(config)) == ["headline"]
