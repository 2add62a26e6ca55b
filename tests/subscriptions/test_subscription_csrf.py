"""With CSRF protection on, as in production: every form that changes a subscription carries
the token and works; the GET form that only asks for a preview carries none (it would leak
into the address bar and the server logs)."""

from __future__ import annotations

import pytest

from tests.subscriptions.conftest import text_of


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def post_form(client, form, **overrides):
    data = {field["name"]: field.get("value", "") for field in form.select("input[name]")
            if field.get("type") != "radio" or field.has_attr("checked")}
    data.update(overrides)
    return client.post(form["action"], data=data)


def test_the_change_flow_carries_the_token_where_it_posts_and_nowhere_else(
        client, client_request, jenny_pro, allow_updates, catalog, session):
    allow_updates()
    page = client_request.get("subscriptions.change_plan", subscription_id=jenny_pro.id)
    assert page.select_one("#subscription-panel form input[name=csrf_token]") is None
    page = client_request.get("subscriptions.preview_change", subscription_id=jenny_pro.id,
                              price=catalog["team_month"].id, quantity="2", version="1")
    form = page.select_one("#subscription-panel form[method=post]")
    assert form.select_one("input[name=csrf_token]")["value"]
    assert post_form(client, form).status_code == 303
    session.expire_all()
    assert jenny_pro.items[0].quantity == 2


def test_the_cancel_and_renew_forms_carry_the_token(client, client_request, jenny_pro, session):
    page = client_request.get("subscriptions.confirm_cancel", subscription_id=jenny_pro.id)
    form = page.select_one("#subscription-panel form")
    assert post_form(client, form, reason="unused").status_code == 303
    page = client_request.get("subscriptions.subscription_detail", subscription_id=jenny_pro.id)
    form = page.select_one(".subscription-notice form")
    assert post_form(client, form).status_code == 303
    assert "renewed" in text_of(client_request.get("subscriptions.subscription_detail",
                                                   subscription_id=jenny_pro.id).main)


def test_a_post_without_the_token_is_refused_and_changes_nothing(client, jenny_pro, session):
    response = client.post(f"/p/subscriptions/{jenny_pro.id}/cancel", data={"version": "1"})
    assert response.status_code == 400
    session.expire_all()
    assert not jenny_pro.cancel_at_period_end
