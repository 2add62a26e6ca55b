"""create_portal_session checks its parameters as Stripe's POST /v1/billing_portal/sessions
does, names the parameter at fault by Stripe's path, and stores Stripe's session.flow."""

from __future__ import annotations

import hashlib

import pytest
import stripe
from sqlalchemy import select

from portal.events import AuditEvent
from portal.objects import serialize, serialize_by_id
from portal.objects.portal_session import serialize_portal_session
from portal.portal_settings.models import PortalConfiguration, PortalSession
from portal.portal_settings.sessions import PortalSessionRefused, create_portal_session
from tests.objects.conftest import assert_matches_schema
from tests.sessions.conftest import RETURN_URL


def test_a_session_gets_a_url_that_is_stored_only_as_its_digest(open_session, jenny, session,
                                                                now):
    created = open_session(jenny)
    record = created.portal_session
    assert created.url == f"https://billing.acme.example/p/session/{created.token}"
    assert len(created.token) >= 43
    assert record.token_digest == hashlib.sha256(created.token.encode()).hexdigest()
    stored = session.execute(select(PortalSession.__table__)).mappings().one()
    assert created.token not in str(dict(stored))
    assert record.id.startswith("bps_")
    assert (record.expires_at - now).total_seconds() == 300
    assert (record.return_url, record.flow, record.locale) == (RETURN_URL, None, None)


def test_each_session_gets_its_own_token(open_session, jenny):
    assert open_session(jenny).token != open_session(jenny).token


def test_making_a_session_raises_its_event_without_the_url(open_session, jenny, session):
    created = open_session(jenny, locale="fr")
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.type == "billing_portal.session.created")).one()
    assert (event.object_id, event.customer_id, event.actor) == (
        created.portal_session.id, jenny.id, "api")
    assert event.data["locale"] == "fr"
    assert created.token not in str(event.data)


def test_the_configurations_default_return_url_is_used_when_none_is_given(open_session, jenny,
                                                                          configure):
    configure(default_return_url="https://acme.example/home")
    created = open_session(jenny, return_url=None)
    assert created.portal_session.return_url == "https://acme.example/home"


def test_a_customer_may_be_given_by_id(session, jenny, now):
    created = create_portal_session(session, customer=jenny.id, return_url=RETURN_URL, now=now,
                                    actor="api", base_url="https://x.example")
    assert created.portal_session.customer_id == jenny.id


def test_the_flow_is_stored_as_stripe_shows_it(open_session, jenny_pro, jenny):
    created = open_session(jenny, flow_data={
        "type": "subscription_cancel",
        "subscription_cancel": {"subscription": jenny_pro.id}})
    assert created.portal_session.flow == {
        "after_completion": {"hosted_confirmation": None, "redirect": None,
                             "type": "portal_homepage"},
        "customer_update": None,
        "subscription_cancel": {"retention": None, "subscription": jenny_pro.id},
        "subscription_pause": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": "subscription_cancel",
    }


def test_the_serializer_gives_stripes_object_which_the_stripe_package_reads(
        open_session, jenny_pro, jenny, session):
    created = open_session(jenny, locale="auto", flow_data={
        "type": "subscription_cancel", "subscription_cancel": {"subscription": jenny_pro.id},
        "after_completion": {"type": "redirect",
                             "redirect": {"return_url": "https://acme.example/done"}}})
    data = serialize_portal_session(session, created.portal_session, url=created.url)
    assert data["object"] == "billing_portal.session"
    assert data["url"] == created.url
    assert data["created"] == int(created.portal_session.created.timestamp())
    read = stripe.billing_portal.Session.construct_from(data, "sk_test_x")
    assert read.flow.type == "subscription_cancel"
    assert read.flow.after_completion.redirect.return_url == "https://acme.example/done"
    assert read.flow.subscription_cancel.subscription == jenny_pro.id
    assert read.locale == "auto"
    assert read.configuration == created.portal_session.configuration_id
    assert_matches_schema("billing_portal.session", data)
    # Through the registry (what the webhook event is made from), never the URL, even for the
    # instance just made; read again, null too (it cannot be rebuilt from the digest).
    assert serialize(session, created.portal_session)["url"] is None
    session.expunge_all()
    again = serialize_by_id(session, "billing_portal.session", created.portal_session.id)
    assert again["url"] is None
    assert_matches_schema("billing_portal.session", again)
    assert {k: v for k, v in again.items() if k != "url"} == {
        k: v for k, v in data.items() if k != "url"}


@pytest.mark.parametrize("flow_type", ["none", "payment_method_update", "subscription_update",
                                       "subscription_update_confirm"])
def test_every_flow_matches_the_schema(flow_type, ids, jenny, open_session, session):
    flow_data = None if flow_type == "none" else {"type": flow_type, **{
        "payment_method_update": {},
        "subscription_update": {"subscription_update": {"subscription": ids["subscription"]}},
        "subscription_update_confirm": {"subscription_update_confirm": {
            "subscription": ids["subscription"],
            "items": [{"id": ids["item"], "price": ids["pro_year"]}],
            "discounts": [{"coupon": ids["coupon"]}]}},
    }[flow_type]}
    created = open_session(jenny, flow_data=flow_data)
    assert_matches_schema("billing_portal.session", serialize(session, created.portal_session))


def _cancel(ids, **extra):
    return {"type": "subscription_cancel",
            "subscription_cancel": {"subscription": ids["subscription"], **extra}}


def _confirm(ids, item=None, **extra):
    return {"type": "subscription_update_confirm", "subscription_update_confirm": {
        "subscription": ids["subscription"],
        "items": [item if item is not None else {"id": ids["item"], "price": ids["pro_year"]}],
        **extra}}


BAD = {
    "no customer": (lambda ids: {"customer": ""}, "customer"),
    "unknown customer": (lambda ids: {"customer": "cus_missing"}, "customer"),
    "no return_url": (lambda ids: {"return_url": None}, "return_url"),
    "relative return_url": (lambda ids: {"return_url": "/account"}, "return_url"),
    "javascript return_url": (lambda ids: {"return_url": "javascript:alert(1)"}, "return_url"),
    "return_url not text": (lambda ids: {"return_url": ["https://a.example"]}, "return_url"),
    "long return_url": (lambda ids: {"return_url": "https://a.example/" + "x" * 500},
                        "return_url"),
    "unknown configuration": (lambda ids: {"configuration": "bpc_missing"}, "configuration"),
    "inactive configuration": (lambda ids: {"configuration": ids["inactive"]}, "configuration"),
    "unknown locale": (lambda ids: {"locale": "xx"}, "locale"),
    "flow_data not a hash": (lambda ids: {"flow_data": "cancel"}, "flow_data"),
    "flow without type": (lambda ids: {"flow_data": {"subscription_cancel": {}}},
                          "flow_data[type]"),
    "unknown flow type": (lambda ids: {"flow_data": {"type": "customer_update"}},
                          "flow_data[type]"),
    "unknown flow key": (lambda ids: {"flow_data": {"type": "payment_method_update",
                                                    "color": "red"}}, "flow_data[color]"),
    "another flow's hash": (lambda ids: {"flow_data": {
        "type": "payment_method_update",
        "subscription_cancel": {"subscription": ids["subscription"]}}},
        "flow_data[subscription_cancel]"),
    "cancel without subscription": (lambda ids: {"flow_data": {"type": "subscription_cancel"}},
                                    "flow_data[subscription_cancel]"),
    "cancel of a made-up subscription": (lambda ids: {"flow_data": {
        "type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_nope"}}},
        "flow_data[subscription_cancel][subscription]"),
    "cancel of another customer's subscription": (lambda ids: {"flow_data": {
        "type": "subscription_cancel", "subscription_cancel": {"subscription": ids["other"]}}},
        "flow_data[subscription_cancel][subscription]"),
    "retention of another type": (lambda ids: {"flow_data": _cancel(
        ids, retention={"type": "pause"})}, "flow_data[subscription_cancel][retention][type]"),
    "retention without coupon": (lambda ids: {"flow_data": _cancel(
        ids, retention={"type": "coupon_offer"})},
        "flow_data[subscription_cancel][retention][coupon_offer]"),
    "retention with a made-up coupon": (lambda ids: {"flow_data": _cancel(
        ids, retention={"type": "coupon_offer", "coupon_offer": {"coupon": "co_nope"}})},
        "flow_data[subscription_cancel][retention][coupon_offer][coupon]"),
    "update without subscription": (lambda ids: {"flow_data": {
        "type": "subscription_update", "subscription_update": {}}},
        "flow_data[subscription_update][subscription]"),
    "update of another customer's subscription": (lambda ids: {"flow_data": {
        "type": "subscription_update", "subscription_update": {"subscription": ids["other"]}}},
        "flow_data[subscription_update][subscription]"),
    "confirm without items": (lambda ids: {"flow_data": {
        "type": "subscription_update_confirm",
        "subscription_update_confirm": {"subscription": ids["subscription"]}}},
        "flow_data[subscription_update_confirm][items]"),
    "confirm of two items": (lambda ids: {"flow_data": _confirm(ids) | {
        "subscription_update_confirm": {
            "subscription": ids["subscription"],
            "items": [{"id": ids["item"], "price": ids["pro_year"]},
                      {"id": ids["item"], "quantity": 2}]}}},
        "flow_data[subscription_update_confirm][items]"),
    "confirm of another subscription's item": (lambda ids: {"flow_data": _confirm(
        ids, {"id": "si_nope", "price": ids["pro_year"]})},
        "flow_data[subscription_update_confirm][items][0][id]"),
    "confirm of a price not offered": (lambda ids: {"flow_data": _confirm(
        ids, {"id": ids["item"], "price": ids["eur"]})},
        "flow_data[subscription_update_confirm][items][0][price]"),
    "confirm of a quantity out of range": (lambda ids: {"flow_data": _confirm(
        ids, {"id": ids["item"], "price": ids["team"], "quantity": "51"})},
        "flow_data[subscription_update_confirm][items][0][quantity]"),
    "confirm of a quantity that is not a number": (lambda ids: {"flow_data": _confirm(
        ids, {"id": ids["item"], "quantity": "two"})},
        "flow_data[subscription_update_confirm][items][0][quantity]"),
    "confirm of the current plan": (lambda ids: {"flow_data": _confirm(
        ids, {"id": ids["item"], "price": ids["pro_month"]})},
        "flow_data[subscription_update_confirm][items][0][price]"),
    "confirm with two discounts": (lambda ids: {"flow_data": _confirm(
        ids, discounts=[{"coupon": ids["coupon"]}, {"coupon": ids["coupon"]}])},
        "flow_data[subscription_update_confirm][discounts]"),
    "confirm with a made-up coupon": (lambda ids: {"flow_data": _confirm(
        ids, discounts=[{"coupon": "co_nope"}])},
        "flow_data[subscription_update_confirm][discounts][0][coupon]"),
    "after_completion without type": (lambda ids: {"flow_data": {
        "type": "payment_method_update", "after_completion": {"redirect": {}}}},
        "flow_data[after_completion][type]"),
    "after_completion of an unknown type": (lambda ids: {"flow_data": {
        "type": "payment_method_update", "after_completion": {"type": "close"}}},
        "flow_data[after_completion][type]"),
    "redirect without return_url": (lambda ids: {"flow_data": {
        "type": "payment_method_update", "after_completion": {"type": "redirect"}}},
        "flow_data[after_completion][redirect]"),
    "redirect to a relative URL": (lambda ids: {"flow_data": {
        "type": "payment_method_update",
        "after_completion": {"type": "redirect", "redirect": {"return_url": "/done"}}}},
        "flow_data[after_completion][redirect][return_url]"),
    "custom_message too long": (lambda ids: {"flow_data": {
        "type": "payment_method_update",
        "after_completion": {"type": "hosted_confirmation",
                             "hosted_confirmation": {"custom_message": "x" * 501}}}},
        "flow_data[after_completion][hosted_confirmation][custom_message]"),
    "hosted_confirmation given for a redirect": (lambda ids: {"flow_data": {
        "type": "payment_method_update",
        "after_completion": {"type": "redirect",
                             "redirect": {"return_url": "https://a.example"},
                             "hosted_confirmation": {"custom_message": "Hi"}}}},
        "flow_data[after_completion][hosted_confirmation]"),
}


@pytest.fixture
def ids(jenny_pro, make_customer, subscribe, catalog, allow_updates, coupon, session):
    allow_updates()
    other = make_customer(email="someone@example.com")
    inactive = PortalConfiguration(is_default=False, active=False)
    session.add(inactive)
    session.commit()
    return {"subscription": jenny_pro.id, "item": jenny_pro.items[0].id,
            "other": subscribe(other, catalog["pro_month"]).id, "inactive": inactive.id,
            "pro_month": catalog["pro_month"].id, "pro_year": catalog["pro_year"].id,
            "team": catalog["team_month"].id, "eur": catalog["pro_month_eur"].id,
            "coupon": coupon.id}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_parameters_are_refused_naming_stripes_param(case, ids, jenny, session, now):
    build, param = BAD[case]
    params = {"customer": jenny, "return_url": RETURN_URL, **build(ids)}
    with pytest.raises(PortalSessionRefused) as refused:
        create_portal_session(session, now=now, actor="api", base_url="https://x.example",
                              **params)
    assert refused.value.param == param
    assert refused.value.message
    session.rollback()
    assert session.scalars(select(PortalSession)).first() is None
    assert session.scalars(select(AuditEvent).where(
        AuditEvent.type == "billing_portal.session.created")).first() is None


def test_a_made_up_id_is_resource_missing(jenny, session, now):
    with pytest.raises(PortalSessionRefused) as refused:
        create_portal_session(session, customer="cus_nope", return_url=RETURN_URL, now=now,
                              actor="api", base_url="https://x.example")
    assert refused.value.code == "resource_missing"
    assert "cus_nope" in refused.value.message


@pytest.mark.parametrize("flow_type, feature", [
    ("payment_method_update", "payment_method_update_enabled"),
    ("subscription_cancel", "subscription_cancel_enabled"),
    ("subscription_update", "subscription_update_enabled"),
])
def test_a_flow_whose_feature_is_off_is_refused(flow_type, feature, jenny_pro, jenny, configure,
                                                allow_updates, session, now):
    allow_updates()
    configure(**{feature: False})
    flow = {"type": flow_type}
    if flow_type != "payment_method_update":
        flow[flow_type] = {"subscription": jenny_pro.id}
    with pytest.raises(PortalSessionRefused) as refused:
        create_portal_session(session, customer=jenny, return_url=RETURN_URL, flow_data=flow,
                              now=now, actor="api", base_url="https://x.example")
    assert refused.value.param == "flow_data[type]"
    assert "disabled" in refused.value.message


def test_a_subscription_already_ending_cannot_get_a_cancel_flow(jenny_pro, jenny, session, now):
    jenny_pro.cancel_at_period_end = True
    session.commit()
    with pytest.raises(PortalSessionRefused) as refused:
        create_portal_session(session, customer=jenny, return_url=RETURN_URL, now=now,
                              actor="api", base_url="https://x.example",
                              flow_data={"type": "subscription_cancel",
                                         "subscription_cancel": {"subscription": jenny_pro.id}})
    assert refused.value.param == "flow_data[subscription_cancel][subscription]"


def test_form_decoded_lists_and_numbers_are_read(ids, jenny, open_session):
    created = open_session(jenny, flow_data={
        "type": "subscription_update_confirm",
        "subscription_update_confirm": {
            "subscription": ids["subscription"],
            "items": {"0": {"id": ids["item"], "price": ids["team"], "quantity": "4"}},
            "discounts": {"0": {"coupon": ids["coupon"]}}}})
    entry = created.portal_session.flow["subscription_update_confirm"]
    assert entry == {"discounts": [{"coupon": ids["coupon"], "promotion_code": None}],
                     "items": [{"id": ids["item"], "price": ids["team"], "quantity": 4}],
                     "subscription": ids["subscription"]}
