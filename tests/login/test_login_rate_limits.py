"""Rate limits: passcode emails per address and per client IP, code checks per client IP.

Run on the in-memory storage (the default) and on Redis (production's storage) when a Redis
server answers at 127.0.0.1:6379.
"""

from __future__ import annotations

import secrets

import pytest
from bs4 import BeautifulSoup

REDIS_URI = "redis://127.0.0.1:6379/0"


def _redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URI, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


@pytest.fixture(params=["memory", "redis"])
def app_config(request):
    config = {"RATELIMIT_ENABLED": True}  # some suites switch it off; these tests need it
    if request.param == "redis":
        if not _redis_answers():
            reason = f"no Redis server answers at {REDIS_URI}"
            print(f"SKIPPED: {reason}")
            pytest.skip(reason)
        # A prefix of its own, so runs and parallel suites never share counts.
        config.update(RATELIMIT_STORAGE_URI=REDIS_URI,
                      RATELIMIT_KEY_PREFIX=f"test-{secrets.token_hex(6)}")
    else:
        config.update(RATELIMIT_STORAGE_URI="memory://")
    return config


def from_ip(client, ip: str):
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def post_email(client, link, email, htmx=False):
    headers = {"HX-Request": "true", "HX-Request-Type": "partial"} if htmx else {}
    return client.post(f"/p/login/{link.id}", data={"email": email}, headers=headers)


def test_the_limits_use_the_configured_storage(app):
    from portal.extensions import limiter

    expected = app.config["RATELIMIT_STORAGE_URI"].split(":")[0]
    assert type(limiter.storage).__module__.split(".")[-1].startswith(expected[:5])


def test_passcode_emails_to_one_address_from_one_ip_are_limited(client, login, customer, mailbox):
    from_ip(client, "198.51.100.1")
    for _ in range(3):
        assert post_email(client, login.link, "jenny.rosen@example.com").status_code == 303
    refused = post_email(client, login.link, " JENNY.rosen@example.com")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    page = BeautifulSoup(refused.get_data(as_text=True), "html.parser")
    assert "You have asked for too many codes. Wait" in page.find(class_="error-summary").text
    assert page.title.text.startswith("Error: ")
    assert page.find("input", attrs={"name": "email"})["value"] == "JENNY.rosen@example.com"
    assert len(mailbox.codes()) == 3
    # Another address from the same IP is still served.
    assert post_email(client, login.link, "ana.silva@example.com").status_code == 303


def test_an_attacker_using_up_the_limit_does_not_lock_the_customer_out_from_another_ip(
        app, login, customer, mailbox):
    attacker = from_ip(app.test_client(), "203.0.113.66")
    answers = [post_email(attacker, login.link, "jenny.rosen@example.com").status_code
               for _ in range(4)]
    assert answers == [303, 303, 303, 429]
    jenny = from_ip(app.test_client(), "198.51.100.20")
    assert post_email(jenny, login.link, "jenny.rosen@example.com").status_code == 303
    response = jenny.post(f"/p/login/{login.link.id}/code", data={"code": mailbox.latest_code()})
    assert response.status_code == 303 and response.headers["Location"].endswith("/p/")


class TestTheOverallCapPerAddress:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "LOGIN_EMAIL_LIMIT_PER_ADDRESS": "5 per hour"}

    @pytest.mark.parametrize("email", ["jenny.rosen@example.com", "nobody@example.com"])
    def test_many_ips_together_cannot_flood_one_inbox(self, client, login, customer, email):
        answers = [post_email(from_ip(client, f"198.51.100.{n}"), login.link,
                              email).status_code for n in range(6)]
        assert answers == [303] * 5 + [429]
        # Another address is still served.
        assert post_email(client, login.link, "ana.silva@example.com").status_code == 303

    def test_the_default_overall_cap_is_looser_than_the_limit_per_ip(self, app):
        from limits import parse_many

        from portal.config import Defaults

        def per_hour(limits):
            return min(item.amount * 3600 / item.get_expiry() for item in parse_many(limits))

        assert (per_hour(Defaults.LOGIN_EMAIL_LIMIT_PER_ADDRESS)
                > per_hour(Defaults.LOGIN_EMAIL_LIMIT_PER_ADDRESS_AND_IP))


def test_an_address_nobody_has_is_limited_exactly_the_same(client, login):
    from_ip(client, "198.51.100.1")
    answers = [post_email(client, login.link, "nobody@example.com").status_code
               for _ in range(4)]
    assert answers == [303, 303, 303, 429]


def test_resending_counts_against_the_address_limit(client, login, customer, mailbox):
    post_email(client, login.link, "jenny.rosen@example.com")
    assert client.post(f"/p/login/{login.link.id}/resend-code").status_code == 303
    assert client.post(f"/p/login/{login.link.id}/resend-code").status_code == 303
    refused = client.post(f"/p/login/{login.link.id}/resend-code",
                          headers={"HX-Request": "true", "HX-Request-Type": "partial"})
    assert refused.status_code == 429
    fragment = BeautifulSoup(refused.get_data(as_text=True), "html.parser")
    assert fragment.find(True)["id"] == "login-step"
    assert "You have asked for too many codes" in fragment.text
    assert len(mailbox.codes()) == 3
    # The code already sent still works.
    response = client.post(f"/p/login/{login.link.id}/code",
                           data={"code": mailbox.latest_code()})
    assert response.status_code == 303 and response.headers["Location"].endswith("/p/")


def test_passcode_emails_from_one_ip_are_limited(client, login):
    from_ip(client, "203.0.113.7")
    answers = [post_email(client, login.link, f"person{n}@example.com").status_code
               for n in range(11)]
    assert answers == [303] * 10 + [429]
    # A different network is not affected.
    assert post_email(from_ip(client, "203.0.113.8"), login.link,
                      "person0@example.org").status_code == 303


def test_a_rate_limited_htmx_request_gets_the_form_back_not_an_error_page(client, login):
    for _ in range(3):
        post_email(from_ip(client, "198.51.100.1"), login.link, "x@example.com")
    refused = post_email(client, login.link, "x@example.com", htmx=True)
    assert refused.status_code == 429
    fragment = BeautifulSoup(refused.get_data(as_text=True), "html.parser")
    assert fragment.find(True)["id"] == "login-step"
    assert fragment.find("html") is None


class TestCodeChecks:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "LOGIN_CODE_CHECK_LIMIT_PER_IP": "7 per 10 minutes"}

    def test_code_checks_from_one_ip_are_limited(self, client, login, customer, mailbox):
        from_ip(client, "203.0.113.50")
        answers = []
        for _ in range(2):
            post_email(client, login.link, "jenny.rosen@example.com")
            right = mailbox.latest_code()
            wrong = f"{(int(right) + 1) % 1_000_000:06d}"
            for _ in range(4):
                answers.append(client.post(f"/p/login/{login.link.id}/code",
                                           data={"code": wrong}).status_code)
        assert answers == [422] * 7 + [429]
        # Even the right code waits: the limit is checked before the code.
        refused = client.post(f"/p/login/{login.link.id}/code", data={"code": right})
        assert refused.status_code == 429
        assert "Too many codes were tried from your network" in refused.get_data(as_text=True)

    def test_malformed_codes_are_not_counted_as_checks(self, client, login, customer):
        post_email(client, login.link, "jenny.rosen@example.com")
        for _ in range(10):
            assert client.post(f"/p/login/{login.link.id}/code",
                               data={"code": "abc"}).status_code == 422
