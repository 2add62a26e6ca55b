"""Configuration defaults and the checks that guard production."""

from __future__ import annotations

import os
import secrets
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
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "billing@localhost"
    # "console" prints mail and keeps it in the development mailbox; "smtp" sends it.
    MAIL_BACKEND = None
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    PAYMENT_GATEWAY = "portal.payments.gateway:TestGateway"
    PASSCODE_TTL_SECONDS = 600
    PASSCODE_MAX_ATTEMPTS = 5
    # Behind a reverse proxy set this to the number of proxies, so client IPs and HTTPS are read right.
    PROXY_FIX_X_FOR = 0
    PUBLIC_URL = "http://127.0.0.1:5000"


def finish(config: dict, instance_path: str) -> None:
    """Fill in derived defaults and refuse configurations that are unsafe in production."""
    production = config.get("ENV") == "production"
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(Path(instance_path) / "portal.db")
    if config.get("MAIL_BACKEND") is None:
        config["MAIL_BACKEND"] = "smtp" if production else "console"
    key = config.get("SECRET_KEY")
    if production:
        if not key or str(key).strip().lower() in DEVELOPMENT_SECRET_KEYS or len(str(key)) < 16:
            raise ConfigError(
                "PORTAL_SECRET_KEY must be set to a long random value when PORTAL_ENV=production"
            )
        if config.get("MAIL_BACKEND") == "console":
            raise ConfigError("PORTAL_MAIL_BACKEND=console is for development only")
    elif not key:
        config["SECRET_KEY"] = _development_secret_key(instance_path)


def _development_secret_key(instance_path: str) -> str:
    """Create a random key once and keep it, so development sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
