"""Configuration in layers, the production guard, and the development secret key."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from portal import create_app
from portal.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k3y-for-tests-Z8qv2Lr7pW1xN4mB6cT9"
# What else production needs to start (see tests/test_production_config.py).
PRODUCTION = {"PORTAL_ENV": "production", "PORTAL_SECRET_KEY": GOOD_KEY,
              "PORTAL_PUBLIC_URL": "https://billing.example.com",
              "PORTAL_RATELIMIT_SINGLE_PROCESS": "true"}


@pytest.fixture
def instance(tmp_path, monkeypatch) -> Path:
    """A clean instance folder and an environment without the machine's PORTAL_* settings."""
    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    path = tmp_path / "instance"
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(path))
    return path


def clean_env(instance: Path, **settings: str) -> dict:
    """The environment for a child process: no PORTAL_* from outside, only ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(PORTAL_INSTANCE_PATH=str(instance), **settings)
    return env


# ---- the layers, in order --------------------------------------------------------------------

def test_defaults_give_development_with_sqlite_in_the_instance_folder(instance):
    app = create_app()
    assert app.config["ENV"] == "development"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'portal.db'}"
    assert app.config["MAIL_BACKEND"] == "console"
    assert app.config["MAIL_PORT"] == 25


def test_instance_config_file_overrides_the_defaults(instance):
    instance.mkdir()
    (instance / "config.py").write_text('MAIL_SERVER = "mail.from-instance.example"\n')
    assert create_app().config["MAIL_SERVER"] == "mail.from-instance.example"


def test_environment_overrides_the_instance_config_file(instance, monkeypatch):
    instance.mkdir()
    (instance / "config.py").write_text('MAIL_SERVER = "mail.from-instance.example"\n'
                                        "MAIL_PORT = 2525\n")
    monkeypatch.setenv("PORTAL_MAIL_SERVER", "mail.from-env.example")
    config = create_app().config
    assert config["MAIL_SERVER"] == "mail.from-env.example"
    assert config["MAIL_PORT"] == 2525  # layers below still show through


def test_create_app_argument_overrides_the_environment(instance, monkeypatch):
    monkeypatch.setenv("PORTAL_MAIL_SERVER", "mail.from-env.example")
    app = create_app({"MAIL_SERVER": "mail.from-argument.example"})
    assert app.config["MAIL_SERVER"] == "mail.from-argument.example"


def test_an_app_built_with_rate_limits_off_leaves_them_on_for_the_next_app(instance):
    from portal.extensions import limiter

    create_app({"RATELIMIT_ENABLED": False})
    app = create_app()
    assert app.config["RATELIMIT_ENABLED"] is True
    assert limiter.enabled  # the one limiter every blueprint's decorators use


def test_environment_values_are_typed_like_the_settings(instance, monkeypatch):
    monkeypatch.setenv("PORTAL_MAIL_PORT", "587")
    monkeypatch.setenv("PORTAL_MAIL_USE_TLS", "true")
    monkeypatch.setenv("PORTAL_SQLALCHEMY_DATABASE_URI", "sqlite:////tmp/elsewhere.db")
    config = create_app().config
    assert config["MAIL_PORT"] == 587
    assert config["MAIL_USE_TLS"] is True
    assert config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/elsewhere.db"


def test_secrets_that_look_like_numbers_stay_text(instance, monkeypatch):
    # from_prefixed_env parses JSON: without care a numeric password would become an int.
    monkeypatch.setenv("PORTAL_MAIL_PASSWORD", "123456")
    monkeypatch.setenv("PORTAL_SECRET_KEY", "12345678901234567890")
    config = create_app().config
    assert config["MAIL_PASSWORD"] == "123456"
    assert config["SECRET_KEY"] == "12345678901234567890"


# ---- production --------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [None, "", "dev", "changeme", "secret", "short-key"])
def test_production_refuses_a_missing_or_development_secret_key(instance, monkeypatch, key):
    monkeypatch.setenv("PORTAL_ENV", "production")
    if key is not None:
        monkeypatch.setenv("PORTAL_SECRET_KEY", key)
    with pytest.raises(ConfigError) as error:
        create_app()
    message = str(error.value)
    assert "PORTAL_SECRET_KEY" in message
    assert "\n" not in message


def test_production_refuses_the_key_development_mode_made(instance, monkeypatch):
    development_key = create_app().config["SECRET_KEY"]
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_SECRET_KEY", development_key)
    with pytest.raises(ConfigError, match="PORTAL_SECRET_KEY"):
        create_app()


def test_production_with_a_real_key_sends_mail_by_smtp_and_has_no_mailbox(instance, monkeypatch):
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    assert app.config["ENV"] == "production"
    assert app.config["MAIL_BACKEND"] == "smtp"
    assert "devtools" not in app.blueprints
    assert not (instance / "secret_key").exists()


def test_production_refuses_the_console_mail_backend(instance, monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("PORTAL_MAIL_BACKEND", "console")
    with pytest.raises(ConfigError, match="PORTAL_MAIL_BACKEND"):
        create_app()


def test_a_misspelt_environment_is_refused_rather_than_run_as_development(instance, monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "prod")
    with pytest.raises(ConfigError, match="PORTAL_ENV"):
        create_app()


def test_wsgi_exits_with_one_line_naming_the_secret_key(instance):
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT,
                            env=clean_env(instance, PORTAL_ENV="production"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "PORTAL_SECRET_KEY" in result.stderr
    # No traceback from our code. gunicorn's arbiter prints one of its own now and then, when
    # the worker's exit reaches it inside a signal handler (a race in gunicorn, not ours).
    assert "wsgi.py" not in result.stderr and "/portal/" not in result.stderr, result.stderr


def test_gunicorn_stops_with_the_one_line_instead_of_restarting_workers(instance):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed (pip install -e '.[test]' brings it)")
    result = subprocess.run([str(gunicorn), "--bind", f"127.0.0.1:{_free_port()}", "wsgi:app"],
                            cwd=ROOT, env=clean_env(instance, PORTAL_ENV="production"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("portal:")]
    assert len(ours) == 1 and "PORTAL_SECRET_KEY" in ours[0], result.stderr
    assert "Traceback" not in result.stderr


def test_wsgi_builds_the_app_with_a_real_key(instance):
    code = "import wsgi; print(wsgi.app.config['ENV'])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                            env=clean_env(instance, **PRODUCTION),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "production"


# ---- development ---------------------------------------------------------------------------------

def test_development_makes_a_secret_key_once_and_keeps_it(instance):
    first = create_app()
    key_file = instance / "secret_key"
    assert key_file.read_text().strip() == first.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32
    assert key_file.stat().st_mode & 0o077 == 0  # readable by the owner only

    second = create_app()
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]


def test_development_sessions_survive_a_restart(instance):
    from flask import request, session

    first = create_app()
    with first.test_request_context():
        session["who"] = "jenny"
        response = first.make_response("")
        first.session_interface.save_session(first, session, response)
        cookie = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]

    restarted = create_app()
    with restarted.test_request_context(
            headers={"Cookie": f"{restarted.config['SESSION_COOKIE_NAME']}={cookie}"}):
        loaded = restarted.session_interface.open_session(restarted, request)
        assert loaded.get("who") == "jenny"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_flask_run_serves_the_portal_in_development(instance):
    flask = str(Path(sys.executable).with_name("flask"))
    env = clean_env(instance)
    subprocess.run([flask, "--app", "portal", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    port = _free_port()
    server = subprocess.Popen([flask, "--app", "portal", "run", "--port", str(port)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/p/signed-out",
                                            timeout=5) as response:
                    assert response.status == 200
                    body = response.read().decode()
            except OSError:
                if server.poll() is not None:
                    pytest.fail("flask run exited: " + server.stdout.read())
                time.sleep(0.2)
        assert body is not None, "flask run never answered"
        assert "You are signed out" in body
    finally:
        server.terminate()
        server.wait(timeout=10)


# ---- the README's configuration reference ---------------------------------------------------------

# Extension internals that a deployment should not change, so the README leaves them out
# (TESTING is Flask's own, set by the test suite).
UNDOCUMENTED = {"SESSION_COOKIE_HTTPONLY", "WTF_CSRF_TIME_LIMIT", "WTF_CSRF_FIELD_NAME",
                "TESTING"}


def settings_the_code_reads() -> set[str]:
    from portal.config import Defaults
    from portal.login.limits import DEFAULT_LIMITS

    names = {name for name in vars(Defaults) if name.isupper()} | set(DEFAULT_LIMITS)
    pattern = re.compile(r"config(?:\[|\.get\(|\.setdefault\()\s*[\"']([A-Z][A-Z0-9_]+)[\"']")
    # Variables read from the environment by name (portal/gunicorn_conf.py's, read before
    # any app exists).
    by_name = re.compile(r"[\"']PORTAL_([A-Z][A-Z0-9_]+)[\"']")
    for path in (ROOT / "portal").rglob("*.py"):
        source = path.read_text()
        names |= set(pattern.findall(source)) | set(by_name.findall(source))
    return names - UNDOCUMENTED


def test_the_readme_documents_every_setting_and_no_other():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `PORTAL_([A-Z0-9_]+)`", readme, re.MULTILINE))
    read = settings_the_code_reads()
    assert read - documented == set(), "settings missing from README.md's table"
    assert documented - read - {"INSTANCE_PATH"} == set(), "README.md documents unknown settings"


def test_processes_starting_at_once_share_one_development_key(instance):
    # A development server with several workers creates the key from all of them at once.
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from portal.config import _development_secret_key

    barrier = Barrier(16)

    def start(_):
        barrier.wait()
        return _development_secret_key(str(instance))

    with ThreadPoolExecutor(16) as pool:
        keys = set(pool.map(start, range(16)))
    assert len(keys) == 1
    assert keys == {(instance / "secret_key").read_text()}
    assert [p.name for p in instance.iterdir()] == ["secret_key"]  # no drafts left behind
