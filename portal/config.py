"""Configuration defaults and the checks that guard production."""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message names the setting to fix."""


# Values people paste from tutorials; a production portal must never run with them.
DEVELOPMENT_SECRET_KEYS = {"", "dev", "development", "secret", "changeme", "change-me", "test"}


class Defaults:
    ENV = "development"
    SECRET_KEY = None
    SQLALCHEMY_DATABASE_URI = None  # filled in with SQLite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "portal_session"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=1)  # the signed-in idle limit
    # However active the customer, a sign-in ends this long after it began (seconds or timedelta).
    SESSION_ABSOLUTE_LIFETIME = timedelta(hours=12)
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "billing@localhost"
    # Flask-Mail stays silent under TESTING unless told otherwise; the tests send through a
    # real SMTP server, and the console backend is how development keeps mail in.
    MAIL_SUPPRESS_SEND = False
    # "console" prints mail and keeps it in the development mailbox; "smtp" sends it.
    MAIL_BACKEND = None
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    PAYMENT_GATEWAY = "portal.payments.gateway:TestGateway"
    PASSCODE_TTL_SECONDS = 600
    PASSCODE_MAX_ATTEMPTS = 5
    # Flask-Limiter strings; see portal/login/limits.py.
    LOGIN_EMAIL_LIMIT_PER_ADDRESS = "3 per 10 minutes;10 per day"
    LOGIN_EMAIL_LIMIT_PER_IP = "10 per 10 minutes;50 per day"
    LOGIN_CODE_CHECK_LIMIT_PER_IP = "20 per 10 minutes;100 per day"
    # Sending after the response keeps known and unknown addresses equally fast to answer.
    LOGIN_EMAIL_IN_BACKGROUND = True
    PAYMENT_METHOD_ADD_RATE_LIMIT = "20 per hour"
    INVOICES_PER_PAGE = 10
    # Behind a reverse proxy set this to the number of proxies, so client IPs and HTTPS are read right.
    PROXY_FIX_X_FOR = 0
    PUBLIC_URL = "http://127.0.0.1:5000"


# Settings that must stay text even when an environment variable looks like a number or
# JSON (from_prefixed_env parses PORTAL_SECRET_KEY=123456 as the integer 123456).
TEXT_SETTINGS = ("SECRET_KEY", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_DEFAULT_SENDER",
                 "SQLALCHEMY_DATABASE_URI", "PUBLIC_URL")
ENVIRONMENTS = ("development", "production")


def finish(config: dict, instance_path: str) -> None:
    """Fill in derived defaults and refuse configurations that are unsafe in production."""
    for name in TEXT_SETTINGS:
        if config.get(name) is not None and not isinstance(config[name], str | bytes):
            config[name] = str(config[name])
    env = str(config.get("ENV") or "development").strip().lower()
    if env not in ENVIRONMENTS:
        # A typo such as "prod" must not quietly run a production server in development mode.
        raise ConfigError(f"PORTAL_ENV must be development or production, not {env!r}")
    config["ENV"] = env
    production = env == "production"
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(Path(instance_path) / "portal.db")
    if config.get("MAIL_BACKEND") is None:
        config["MAIL_BACKEND"] = "smtp" if production else "console"
    if config["MAIL_BACKEND"] not in ("smtp", "console"):
        raise ConfigError("PORTAL_MAIL_BACKEND must be smtp or console")
    key = config.get("SECRET_KEY")
    if production:
        if _is_development_key(key, instance_path):
            raise ConfigError(
                "PORTAL_SECRET_KEY must be set to a long random value when PORTAL_ENV=production"
            )
        if config.get("MAIL_BACKEND") == "console":
            raise ConfigError("PORTAL_MAIL_BACKEND=console is for development only")
    elif not key:
        config["SECRET_KEY"] = _development_secret_key(instance_path)


def _is_development_key(key, instance_path: str) -> bool:
    """Missing, short, a tutorial value, or the key development mode made for itself."""
    if not key:
        return True
    text = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
    if text.strip().lower() in DEVELOPMENT_SECRET_KEYS or len(text.strip()) < 16:
        return True
    made_for_development = Path(instance_path) / "secret_key"
    return made_for_development.exists() and made_for_development.read_text().strip() == text.strip()


def _development_secret_key(instance_path: str) -> str:
    """Create a random key once and keep it, so development sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: several processes starting at once (a server
        # with workers) all end up with the one key that won, never with a half-written file.
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret_key-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(draft)
    key = path.read_text().strip()
    if not key:
        raise ConfigError(f"{path} is empty: delete it and a new development key is made")
    return key
