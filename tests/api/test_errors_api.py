"""Every refusal is in Stripe's error shape, with the status stripe-python maps to the right
exception class."""

from __future__ import annotations

import base64

import pytest
import stripe

from portal.dbtypes import utcnow
from portal.integration.models import ApiKey
from portal.integration.operations import create_key, revoke_key

FEATURES = {"features[invoice_history][enabled]": "true"}


def _error(response) -> dict:
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    return body["error"]


def test_a_request_without_a_key_is_refused_with_401(api):
    response = api.get("/v1/billing_portal/configurations", key="")

    assert response.status_code == 401
    error = _error(response)
    assert error["type"] == "invalid_request_error"
    assert "You did not provide an API key" in error["message"]
    assert response.headers["Request-Id"].startswith("req_")


def test_a_wrong_key_is_refused_without_echoing_it(api):
    response = api.get("/v1/billing_portal/configurations",
                       key="sk_live_" + "x" * 44 + "abcd")

    assert response.status_code == 401
    message = _error(response)["message"]
    assert message.startswith("Invalid API Key provided: sk_live_****")
    assert "x" * 10 not in message


def test_a_revoked_key_stops_working_at_once(api, session, api_key):
    key = session.query(ApiKey).one()
    assert api.get("/v1/billing_portal/configurations").status_code == 200

    revoke_key(session, key, now=utcnow(), actor="merchant")
    session.commit()

    assert api.get("/v1/billing_portal/configurations").status_code == 401


def test_the_key_may_come_as_the_basic_auth_user_name_as_stripes_clients_send_it(api, api_key):
    token = base64.b64encode(f"{api_key}:".encode()).decode()

    response = api.get("/v1/billing_portal/configurations",
                       headers={"Authorization": f"Basic {token}"})

    assert response.status_code == 200


def test_stripe_python_raises_authentication_error_for_a_bad_key(api_server, session):
    client = stripe.StripeClient("sk_live_" + "y" * 48, base_addresses={"api": api_server.url},
                                 max_network_retries=0)

    with pytest.raises(stripe.AuthenticationError):
        client.v1.billing_portal.configurations.list()


def test_an_unknown_parameter_is_refused_by_name(api):
    response = api.post("/v1/billing_portal/configurations", {**FEATURES, "colour": "red"})

    assert response.status_code == 400
    assert _error(response) == {"type": "invalid_request_error", "code": "parameter_unknown",
                                "param": "colour",
                                "message": "Received unknown parameter: colour"}
    assert response.headers["Stripe-Should-Retry"] == "false"


@pytest.mark.parametrize(("data", "param", "code"), [
    ({}, "features", "parameter_missing"),
    ({"features[invoice_history][enabled]": "maybe"}, "features[invoice_history][enabled]",
     "parameter_invalid_boolean"),
    ({**FEATURES, "features[subscription_cancel][mode]": "someday"},
     "features[subscription_cancel][mode]", "parameter_invalid_string"),
    ({**FEATURES, "business_profile[headline]": "x" * 61}, "business_profile[headline]",
     "parameter_invalid_string"),
    ({**FEATURES, "default_return_url": "javascript:alert(1)"}, "default_return_url",
     "parameter_invalid"),
])
def test_bad_values_name_the_parameter_they_are_in(api, data, param, code):
    response = api.post("/v1/billing_portal/configurations", data)

    assert response.status_code == 400
    error = _error(response)
    assert (error["param"], error["code"]) == (param, code)


def test_stripe_python_raises_invalid_request_error_with_the_param(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.billing_portal.configurations.create(
            params={"features": {"invoice_history": {"enabled": True}}, "colour": "red"})

    assert refused.value.param == "colour"
    assert refused.value.http_status == 400


def test_an_id_that_names_nothing_is_a_404_naming_the_object(api):
    response = api.get("/v1/billing_portal/configurations/bpc_missing")

    assert response.status_code == 404
    assert _error(response) == {"type": "invalid_request_error", "code": "resource_missing",
                                "param": "id",
                                "message": "No such billing_portal.configuration: "
                                           "'bpc_missing'"}


def test_an_id_of_an_impossible_shape_is_the_same_404(api):
    response = api.get("/v1/billing_portal/configurations/" + "x" * 200)

    assert response.status_code == 404
    assert _error(response)["code"] == "resource_missing"


def test_an_unknown_url_and_a_wrong_method_answer_json(api):
    unknown = api.get("/v1/charges")
    wrong = api.delete("/v1/billing_portal/configurations")

    assert unknown.status_code == 404
    assert _error(unknown)["message"] == "Unrecognized request URL (GET: /v1/charges)."
    assert wrong.status_code == 404
    assert "DELETE: /v1/billing_portal/configurations" in _error(wrong)["message"]


def test_a_json_body_is_refused_with_how_to_send_it(api):
    response = api.post("/v1/billing_portal/configurations",
                        data='{"features": {}}', content_type="application/json")

    assert response.status_code == 415
    assert "form-encoded" in _error(response)["message"]


def test_a_body_over_a_megabyte_is_refused(api):
    response = api.post("/v1/billing_portal/configurations",
                        {**FEATURES, "metadata[a]": "x" * (1024 * 1024 + 1)})

    assert response.status_code == 413
    assert _error(response)["type"] == "invalid_request_error"


def test_a_failure_inside_an_endpoint_is_a_500_api_error_and_nothing_is_kept(
        api, session, monkeypatch):
    from portal.api.resources import portal_configurations
    from portal.portal_settings.models import PortalConfiguration

    def broken(*args, **kwargs):
        raise RuntimeError("the serializer broke")

    monkeypatch.setattr(portal_configurations, "serialize", broken)

    response = api.post("/v1/billing_portal/configurations", FEATURES)

    assert response.status_code == 500
    error = _error(response)
    assert error["type"] == "api_error"
    assert "serializer" not in error["message"]
    assert session.query(PortalConfiguration).count() == 0


def test_a_key_is_only_shown_once_and_stored_as_a_digest(session):
    new = create_key(session, name="sync", now=utcnow(), actor="merchant")
    session.commit()

    stored = session.get(ApiKey, new.key.id)
    assert new.secret.startswith("sk_live_") and len(new.secret) == 56
    assert new.secret not in (stored.secret_digest, stored.redacted)
    assert stored.redacted == "sk_live_..." + new.secret[-4:]


def test_too_many_requests_for_one_key_are_refused_in_stripes_shape(app, api, api_server,
                                                                    api_key):
    app.config["API_RATE_LIMIT"] = "2 per minute"
    statuses = [api.get("/v1/billing_portal/configurations").status_code for _ in range(3)]
    client = stripe.StripeClient(api_key, base_addresses={"api": api_server.url},
                                 max_network_retries=0)

    assert statuses == [200, 200, 429]
    refused = api.get("/v1/billing_portal/configurations")
    assert _error(refused)["code"] == "rate_limit"
    with pytest.raises(stripe.RateLimitError):
        client.v1.billing_portal.configurations.list()
