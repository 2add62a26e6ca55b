"""What production refuses to start with, and what it switches on by default."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from portal import create_app
from portal.config import ConfigError, announced_workers

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k3y-for-tests-Z8qv2Lr7pW1xN4mB6cT9"
PRODUCTION = {"PORTAL_ENV": "production", "PORTAL_SECRET_KEY": GOOD_KEY,
              "PORTAL_PUBLIC_URL": "https://billing.example.com",
              "PORTAL_RATELIMIT_SINGLE_PROCESS": "true"}
EVIL = "evil.example"


@pytest.fixture
def production(tmp_path, monkeypatch):
    """A clean environment set up for production; returns a function starting the app with
    some settings changed (None removes one)."""
    for name in list(os.environ):
        if name.startswith("PORTAL_") or name in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))

    def start(**changes):
        for name, value in {**PRODUCTION, **changes}.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        return create_app()

    return start


def refused(start, **changes) -> str:
    with pytest.raises(ConfigError) as error:
        start(**changes)
    message = str(error.value)
    assert "\n" not in message
    return message


# ---- the secret key must be really random ---------------------------------------------------

@pytest.mark.parametrize("key", [
    "aaaaaaaaaaaaaaaa",
    "0123456789abcdef",
    "a" * 64,
    "0123456789abcdef" * 4,
    "abcdefghijklmnopqrstuvwxyzABCDEF0123456789",
    "zyxwvutsrqponmlkjihgfedcba9876543210",
    "aAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaA",
    "Xk3j9Lm2Pq8Rt5Vw" * 2,                   # a random-looking chunk, repeated
    "passwordpasswordpasswordpassword",
    "qwertyuiopasdfghjklzxcvbnm123456",
    "192b9bdd22ab9ed4d12e236c78afcb9a393ec15f71bbf5dc987d54727823bcbf",  # Flask's docs
    "3a623df9eac6a69f",                        # token_hex(8): random, but too short
])
def test_production_refuses_a_secret_key_without_real_randomness(production, key):
    message = refused(production, PORTAL_SECRET_KEY=key)
    assert "PORTAL_SECRET_KEY" in message
    assert "token_hex(32)" in message  # says how to make a good one


# Made fresh by each test (not at collection, which must name the same tests on every worker).
@pytest.mark.parametrize("make_key", [
    lambda: secrets.token_hex(32),
    lambda: secrets.token_urlsafe(32),
    lambda: secrets.token_urlsafe(64),
    lambda: GOOD_KEY,
], ids=["token_hex(32)", "token_urlsafe(32)", "token_urlsafe(64)", "a long random key"])
def test_production_accepts_a_key_made_as_the_readme_says(production, make_key):
    key = make_key()
    assert production(PORTAL_SECRET_KEY=key).config["SECRET_KEY"] == key


def test_every_key_secrets_makes_as_the_readme_says_is_accepted():
    from portal.config import SECRET_KEY_MIN_BITS, estimated_secret_bits

    lowest = min(estimated_secret_bits(make(32)) for make in (secrets.token_hex,
                                                              secrets.token_urlsafe)
                 for _ in range(2000))
    assert lowest >= SECRET_KEY_MIN_BITS


# ---- the public address is https ---------------------------------------------------------------

@pytest.mark.parametrize("url", [None, "http://billing.example.com", "billing.example.com",
                                 "https://", "ftp://billing.example.com"])
def test_production_refuses_a_public_url_that_is_not_https(production, url):
    assert "PORTAL_PUBLIC_URL" in refused(production, PORTAL_PUBLIC_URL=url)


# ---- memory:// rate limits only with one process -----------------------------------------------

def test_production_refuses_memory_rate_limits_unless_told_it_runs_as_one_process(production):
    message = refused(production, PORTAL_RATELIMIT_SINGLE_PROCESS=None)
    assert "PORTAL_RATELIMIT_STORAGE_URI" in message
    assert "PORTAL_RATELIMIT_SINGLE_PROCESS" in message


@pytest.mark.parametrize("variable, value", [
    ("WEB_CONCURRENCY", "3"),
    ("GUNICORN_CMD_ARGS", "--bind 127.0.0.1:8000 --workers 4"),
    ("GUNICORN_CMD_ARGS", "--workers=2"),
    ("GUNICORN_CMD_ARGS", "-w 2"),
    ("GUNICORN_CMD_ARGS", "-w2"),
    ("GUNICORN_CMD_ARGS", "--name 'billing portal --workers 3"),  # unbalanced quote
])
def test_production_refuses_memory_rate_limits_with_several_workers_even_when_told_one(
        production, variable, value):
    message = refused(production, **{variable: value})
    assert "PORTAL_RATELIMIT_STORAGE_URI" in message and "workers" in message


@pytest.mark.parametrize("changes", [
    {"WEB_CONCURRENCY": "1"},
    {"GUNICORN_CMD_ARGS": "--workers 1 --threads 8"},
    {"PORTAL_RATELIMIT_SINGLE_PROCESS": None,
     "PORTAL_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0", "WEB_CONCURRENCY": "4"},
    {"PORTAL_RATELIMIT_SINGLE_PROCESS": None, "PORTAL_RATELIMIT_ENABLED": "false"},
])
def test_production_starts_when_the_rate_limits_count_right(production, changes):
    assert production(**changes).config["ENV"] == "production"


def test_development_keeps_memory_rate_limits_whatever_the_workers(production):
    app = production(PORTAL_ENV=None, PORTAL_PUBLIC_URL=None, PORTAL_RATELIMIT_SINGLE_PROCESS=None,
                     WEB_CONCURRENCY="4")
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


@pytest.mark.parametrize("argv, expected", [
    (["/srv/venv/bin/gunicorn", "--workers", "3", "wsgi:app"], 3),
    (["/srv/venv/bin/gunicorn", "-w", "5", "wsgi:app"], 5),
    (["/srv/venv/bin/gunicorn", "wsgi:app"], 1),
    (["/srv/venv/lib/python3.11/site-packages/gunicorn/__main__.py", "-w4"], 4),  # python -m
    (["/usr/bin/python", "-w", "5"], 1),  # not gunicorn: its -w means something else
])
def test_the_worker_count_is_read_from_gunicorns_command_line(argv, expected):
    assert announced_workers(environ={}, argv=argv) == expected


@pytest.mark.parametrize("argv, environ, expected", [
    (["/srv/venv/bin/gunicorn", "-c", "python:portal.gunicorn_conf", "wsgi:app"],
     {"PORTAL_GUNICORN_WORKERS": "3"}, 3),
    (["/srv/venv/bin/gunicorn", "--config=python:portal.gunicorn_conf", "wsgi:app"],
     {"WEB_CONCURRENCY": "2"}, 2),
    (["/srv/venv/bin/gunicorn", "wsgi:app"],
     {"GUNICORN_CMD_ARGS": "-c python:portal.gunicorn_conf", "PORTAL_GUNICORN_WORKERS": "4"}, 4),
    (["/srv/venv/bin/gunicorn", "-c", "/srv/portal/portal/gunicorn_conf.py", "wsgi:app"],
     {"PORTAL_GUNICORN_WORKERS": "6"}, 6),
    # Another config file is not read: its count is the operator's to keep at one.
    (["/srv/venv/bin/gunicorn", "-c", "/etc/gunicorn.conf.py", "wsgi:app"],
     {"PORTAL_GUNICORN_WORKERS": "6"}, 1),
])
def test_the_worker_count_of_the_portals_gunicorn_config_is_known(argv, environ, expected):
    assert announced_workers(environ=environ, argv=argv) == expected


def test_the_portals_gunicorn_config_counts_two_workers_per_cpu_when_not_told():
    from portal.config import gunicorn_workers

    argv = ["/srv/venv/bin/gunicorn", "-c", "python:portal.gunicorn_conf", "wsgi:app"]
    assert announced_workers(environ={}, argv=argv) == gunicorn_workers(environ={}) >= 3


@pytest.mark.parametrize("arguments, settings", [
    (["--workers", "2", "--bind", "127.0.0.1:0"], {}),
    (["-c", "python:portal.gunicorn_conf"],
     {"PORTAL_GUNICORN_WORKERS": "2", "PORTAL_BIND": "127.0.0.1:0"}),
], ids=["--workers 2", "portal.gunicorn_conf"])
def test_gunicorn_with_two_workers_and_memory_rate_limits_stops_with_one_line(
        tmp_path, arguments, settings):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed (pip install -e '.[test]' brings it)")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PORTAL_") and k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")}
    env.update(PRODUCTION, PORTAL_INSTANCE_PATH=str(tmp_path / "instance"), **settings)
    result = subprocess.run([str(gunicorn), *arguments, "wsgi:app"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    ours = {line for line in result.stderr.splitlines() if line.startswith("portal:")}
    assert len(ours) == 1, result.stderr
    assert "PORTAL_RATELIMIT_STORAGE_URI" in ours.pop()
    # No traceback from our code. gunicorn's arbiter prints one of its own now and then, when
    # the worker's exit reaches it inside a signal handler (a race in gunicorn, not ours; the
    # same as in tests/test_config.py).
    assert "wsgi.py" not in result.stderr and "/portal/" not in result.stderr, result.stderr


# ---- secure cookies, HSTS and trusted hosts by default -------------------------------------------

def test_production_marks_the_session_cookie_secure_by_default(production):
    from flask import session

    app = production()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    # Even answering plain http (a proxy that does not say it was https).
    with app.test_request_context(base_url="http://billing.example.com"):
        session["who"] = "jenny"
        response = app.make_response("")
        app.session_interface.save_session(app, session, response)
    assert "Secure" in response.headers["Set-Cookie"]


def test_production_keeps_a_session_cookie_secure_set_to_false(production):
    assert production(PORTAL_SESSION_COOKIE_SECURE="false").config["SESSION_COOKIE_SECURE"] is False


def test_development_leaves_the_cookie_to_the_request_scheme(production):
    app = production(PORTAL_ENV=None, PORTAL_PUBLIC_URL=None)
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["TRUSTED_HOSTS"] is None


def test_production_trusts_the_public_urls_host_by_default(production):
    assert production().config["TRUSTED_HOSTS"] == ["billing.example.com"]


@pytest.mark.parametrize("value, expected", [
    ('["billing.example.com", "portal.example.net"]', ["billing.example.com",
                                                       "portal.example.net"]),
    ("billing.example.com", ["billing.example.com"]),
    ("billing.example.com, .example.net", ["billing.example.com", ".example.net"]),
])
def test_the_trusted_hosts_can_be_set(production, value, expected):
    assert production(PORTAL_TRUSTED_HOSTS=value).config["TRUSTED_HOSTS"] == expected


class TestARunningProductionPortal:
    BASE = "https://billing.example.com"

    @pytest.fixture
    def app_config(self):
        return {"ENV": "production", "MAIL_BACKEND": "smtp", "PUBLIC_URL": self.BASE,
                "RATELIMIT_SINGLE_PROCESS": True, "PROXY_FIX_X_FOR": 1}

    def test_it_answers_at_its_own_host_with_strict_transport_security(self, client):
        response = client.get("/p/signed-out", base_url=self.BASE)
        assert response.status_code == 200
        assert (response.headers["Strict-Transport-Security"]
                == "max-age=31536000; includeSubDomains")

    @pytest.mark.parametrize("path", ["/p/", "/static//portal.css", "/p/signed-out"])
    def test_a_forged_host_is_refused_and_never_reaches_a_url(self, client, path):
        response = client.get(path, base_url=f"https://{EVIL}")
        assert response.status_code == 400
        assert EVIL not in response.headers.get("Location", "")
        assert EVIL not in response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store, private"

    @pytest.mark.parametrize("path", ["/p/", "/static//portal.css"])
    def test_a_forged_forwarded_host_never_reaches_a_redirect(self, client, path):
        response = client.get(path, base_url=self.BASE, headers={"X-Forwarded-Host": EVIL})
        assert response.status_code in (303, 308)
        assert EVIL not in response.headers["Location"]
        assert EVIL not in response.get_data(as_text=True)


class TestStrictTransportSecurityCanBeChanged:
    @pytest.fixture
    def app_config(self):
        return {"ENV": "production", "MAIL_BACKEND": "smtp", "PUBLIC_URL": "https://localhost",
                "RATELIMIT_SINGLE_PROCESS": True, "STRICT_TRANSPORT_SECURITY": ""}

    def test_an_empty_value_sends_none(self, client):
        response = client.get("/p/signed-out")
        assert response.status_code == 200
        assert "Strict-Transport-Security" not in response.headers


# ---- logs and metrics -----------------------------------------------------------------------------

def test_production_logs_json_and_development_text(production):
    assert production().config["LOG_FORMAT"] == "json"
    assert production(PORTAL_LOG_FORMAT="text").config["LOG_FORMAT"] == "text"
    development = production(PORTAL_ENV=None, PORTAL_PUBLIC_URL=None)
    assert development.config["LOG_FORMAT"] == "text"


@pytest.mark.parametrize("changes, setting", [
    ({"PORTAL_LOG_FORMAT": "yaml"}, "PORTAL_LOG_FORMAT"),
    ({"PORTAL_LOG_LEVEL": "LOUD"}, "PORTAL_LOG_LEVEL"),
    ({"PORTAL_METRICS_TOKEN": "short-token"}, "PORTAL_METRICS_TOKEN"),
    ({"PORTAL_METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}, "PORTAL_METRICS_ALLOWED_NETWORKS"),
    ({"PORTAL_READYZ_TIMEOUT_SECONDS": "0"}, "PORTAL_READYZ_TIMEOUT_SECONDS"),
])
def test_production_refuses_log_and_metrics_settings_that_cannot_work(production, changes,
                                                                      setting):
    assert setting in refused(production, **changes)


def test_production_accepts_a_metrics_token_made_as_the_readme_says(production):
    token = secrets.token_hex(32)
    app = production(PORTAL_METRICS_ENABLED="true", PORTAL_METRICS_TOKEN=token,
                     PORTAL_METRICS_ALLOWED_NETWORKS="10.0.0.0/8, 192.168.4.0/24")
    assert app.config["METRICS_ENABLED"] is True and app.config["METRICS_TOKEN"] == token
    assert app.config["METRICS_ALLOWED_NETWORKS"] == ["10.0.0.0/8", "192.168.4.0/24"]
