"""Every form in the portal is protected against cross-site request forgery."""

import re

import pytest

from portal import create_app
from tests.conftest import base_config


def _post_rules(app):
    for rule in app.url_map.iter_rules():
        # The /v1 API has no cookie to forge: every request carries the secret key, and one
        # without it is refused (tests/api/test_errors_api.py).
        if ("POST" in rule.methods and not rule.endpoint.startswith("static")
                and not rule.rule.startswith("/v1/")):
            yield rule


def _url_for_rule(rule) -> str:
    # The CSRF check runs before the view, so any well-formed id will do.
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: f"xx_{m.group(1)}", rule.rule)


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_the_portal_has_forms_to_protect(app):
    assert len(list(_post_rules(app))) >= 3


def test_every_post_without_a_csrf_token_is_refused(app, client, signed_in_customer, session):
    refused = {}
    for rule in _post_rules(app):
        response = client.post(_url_for_rule(rule), data={"name": "x", "email": "a@example.com"})
        refused[rule.rule] = response.status_code
    assert refused and all(code == 400 for code in refused.values()), refused


def test_every_post_with_a_wrong_csrf_token_is_refused(app, client, signed_in_customer):
    for rule in _post_rules(app):
        response = client.post(_url_for_rule(rule), data={"csrf_token": "forged"},
                               headers={"X-CSRFToken": "forged"})
        assert response.status_code == 400, rule.rule


def test_the_csrf_refusal_is_a_plain_page_not_a_crash(app, client, signed_in_customer):
    rule = next(_post_rules(app))
    response = client.post(_url_for_rule(rule))
    assert response.status_code == 400
    assert "Something was wrong with that request" in response.get_data(as_text=True)


def test_a_cookie_alone_cannot_post_to_the_api(app, client, signed_in_customer):
    api_posts = [rule for rule in app.url_map.iter_rules()
                 if "POST" in rule.methods and rule.rule.startswith("/v1/")]

    answers = {rule.rule: client.post(_url_for_rule(rule), data={"name": "x"}).status_code
               for rule in api_posts}

    assert api_posts and set(answers.values()) == {401}, answers


def test_csrf_is_on_unless_a_test_switches_it_off(database_uri):
    config = base_config(database_uri)
    del config["WTF_CSRF_ENABLED"]
    assert create_app(config).config.get("WTF_CSRF_ENABLED", True) is True
