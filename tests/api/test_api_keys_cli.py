"""``flask --app portal api-keys create|list|revoke``."""

from __future__ import annotations

from portal.integration.models import ApiKey


def test_create_prints_the_secret_once_and_list_shows_only_its_end(app, session):
    runner = app.test_cli_runner()

    created = runner.invoke(args=["api-keys", "create", "--name", "billing sync"])
    secret = created.output.strip().splitlines()[-1]
    listed = runner.invoke(args=["api-keys", "list"])

    assert created.exit_code == 0 and secret.startswith("sk_live_")
    key = session.query(ApiKey).one()
    assert key.id in created.output
    assert secret not in listed.output
    assert f"sk_live_...{secret[-4:]}" in listed.output and "active" in listed.output


def test_revoke_ends_a_key_and_says_so_twice_without_failing(app, session, client):
    runner = app.test_cli_runner()
    secret = runner.invoke(args=["api-keys", "create", "--name", "x"]).output.strip().split()[-1]
    key_id = session.query(ApiKey).one().id

    first = runner.invoke(args=["api-keys", "revoke", key_id])
    second = runner.invoke(args=["api-keys", "revoke", key_id])
    missing = runner.invoke(args=["api-keys", "revoke", "key_nope"])

    assert "Revoked" in first.output and "revoked already" in second.output
    assert missing.exit_code == 2 and "No API key key_nope" in missing.output
    answer = client.get("/v1/billing_portal/configurations",
                        headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 401


def test_a_key_needs_a_name(app):
    result = app.test_cli_runner().invoke(args=["api-keys", "create", "--name", "  "])

    assert result.exit_code == 2 and "Enter a name" in result.output
