"""Developers > API keys: a key is made with a name, its secret shown once, used by the API,
and revoked from the list."""

from __future__ import annotations

from sqlalchemy import select

from portal.events import AuditEvent
from portal.integration.models import ApiKey


def text_of(element) -> str:
    return " ".join(element.get_text(" ").split()) if element is not None else ""


def test_a_new_key_is_shown_once_and_then_works_against_the_api(client_request, client,
                                                                signed_in_staff, session):
    made = client_request.post("admin_developers.create_api_key", _data={"name": "Billing sync"},
                               _expected_status=200)

    secret = made.select_one("#new-secret")["value"]
    assert secret.startswith("sk_live_")
    assert "Billing sync" in text_of(made.select_one(".notice"))
    key = session.scalars(select(ApiKey)).one()
    assert key.name == "Billing sync" and key.secret_digest != secret
    event = session.scalars(select(AuditEvent).where(AuditEvent.type == "api_key.created")).one()
    assert event.actor == f"staff:{signed_in_staff.id}"
    assert secret not in str(event.data)

    listed = client_request.get("admin_developers.api_keys")
    assert listed.select_one("#new-secret") is None
    assert secret not in str(listed)
    assert key.redacted in text_of(listed.select_one("table"))

    response = client.get("/v1/billing_portal/configurations",
                          headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200


def test_a_key_without_a_name_is_refused_by_the_field(client_request, signed_in_staff, session):
    page = client_request.post("admin_developers.create_api_key", _data={"name": "   "},
                               _expected_status=422)

    assert page.select_one("title").text.startswith("Error: ")
    assert "Enter a name for the key" in text_of(page.select_one("#name-error"))
    assert page.select_one(".error-summary a")["href"] == "#name"
    assert session.scalars(select(ApiKey)).all() == []


def test_revoking_a_key_refuses_its_requests_from_then_on(client_request, client,
                                                          signed_in_staff, session):
    made = client_request.post("admin_developers.create_api_key", _data={"name": "Old sync"},
                               _expected_status=200)
    secret = made.select_one("#new-secret")["value"]
    key = session.scalars(select(ApiKey)).one()

    client_request.post_response("admin_developers.revoke_api_key", key_id=key.id)

    page = client_request.get("admin_developers.api_keys")
    assert "Revoked the key Old sync" in text_of(page.select_one(".flashes, .notice"))
    assert "Revoked" in text_of(page.select_one("table"))
    response = client.get("/v1/billing_portal/configurations",
                          headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


def test_revoking_a_key_that_does_not_exist_is_a_404(client_request, signed_in_staff):
    client_request.post_response("admin_developers.revoke_api_key", key_id="key_nope",
                                 _expected_status=404)
