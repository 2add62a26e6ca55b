"""Configuration defaults and the checks that guard production."""

from __future__ import annotations

import math
import os
import secrets
import shlex
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message names the setting to fix."""


# Values people paste from tutorials; a production portal must never run with them. (Short
# ones are refused by length anyway; the long one is the example in Flask's own documentation.)
DEVELOPMENT_SECRET_KEYS = {"", "dev", "development", "secret", "changeme", "change-me", "test",
                           "192b9bdd22ab9ed4d12e236c78afcb9a393ec15f71bbf5dc987d54727823bcbf"}
SECRET_KEY_MIN_LENGTH = 32
SECRET_KEY_MIN_BITS = 128
PG_CONNECT_TIMEOUT_SECONDS = 5
RANDOM_VALUE_COMMAND = "python3 -c 'import secrets; print(secrets.token_hex(32))'"


class Defaults:
    ENV = "development"
    SECRET_KEY = None
    SQLALCHEMY_DATABASE_URI = None  # filled in with SQLite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "portal_session"
    SESSION_COOKIE_SECURE = None  # true in production, false in development, unless set
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
    # Spelled out: Flask-Limiter keeps the last app's value on its one shared object and uses it
    # as the default for the next app, so an app built with limits off would switch them off for
    # every app built after it in the process.
    RATELIMIT_ENABLED = True
    # memory:// keeps counts in each process; production accepts it only when the operator
    # says the portal runs as one process.
    RATELIMIT_SINGLE_PROCESS = False
    RATELIMIT_HEADERS_ENABLED = True
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    PAYMENT_GATEWAY = "portal.payments.gateway:TestGateway"
    PASSCODE_TTL_SECONDS = 600
    PASSCODE_MAX_ATTEMPTS = 5
    # Flask-Limiter strings; see portal/login/limits.py.
    LOGIN_EMAIL_LIMIT_PER_ADDRESS_AND_IP = "3 per 10 minutes;10 per day"
    LOGIN_EMAIL_LIMIT_PER_ADDRESS = "20 per hour;50 per day"
    LOGIN_EMAIL_LIMIT_PER_IP = "10 per 10 minutes;50 per day"
    LOGIN_CODE_CHECK_LIMIT_PER_IP = "20 per 10 minutes;100 per day"
    # Expired and used passcode rows are deleted by housekeeping this long after they expired.
    LOGIN_PASSCODE_RETENTION_SECONDS = 7 * 24 * 3600
    # Staff sign-in to /admin (portal/admin/views.py): attempts per client IP, per address from
    # one IP, and per address from anywhere.
    ADMIN_SIGN_IN_LIMIT_PER_IP = "20 per 10 minutes;200 per day"
    ADMIN_SIGN_IN_LIMIT_PER_ADDRESS_AND_IP = "5 per 10 minutes;30 per day"
    ADMIN_SIGN_IN_LIMIT_PER_ADDRESS = "50 per hour;200 per day"
    # A staff sign-in ends after this long idle, and this long after it began however active.
    ADMIN_SESSION_IDLE_SECONDS = 2 * 3600
    ADMIN_SESSION_ABSOLUTE_SECONDS = 12 * 3600
    PAYMENT_METHOD_ADD_RATE_LIMIT = "20 per hour"
    INVOICES_PER_PAGE = 10
    # The billing engine (portal/billing/policy.py): retry a failed automatic charge this many
    # days after the first failure, then make the subscription "canceled" or "unpaid".
    BILLING_RETRY_DAYS = (3, 5, 7)
    BILLING_AFTER_FINAL_FAILURE = "canceled"
    # Behind a reverse proxy set this to the number of proxies, so client IPs and HTTPS are read right.
    PROXY_FIX_X_FOR = 0
    PUBLIC_URL = "http://127.0.0.1:5000"
    # Host names requests may carry (Flask answers others 400); production defaults to
    # PUBLIC_URL's host, development accepts any.
    TRUSTED_HOSTS = None
    # Sent on every response in production only; "" sends none (e.g. the proxy adds its own).
    STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
    # Seconds each process keeps the branding and configurations; 5 in production, 0 (read on
    # every request) in development, unless set.
    SETTINGS_CACHE_SECONDS = None
    # Seconds one SMTP step may take; without it a silent server holds a send past its lease.
    MAIL_TIMEOUT_SECONDS = 20
    # Background work (portal/outbox, README "Background work"). "inline-thread": threads in
    # each app process deliver the outbox; "redis": `flask worker` processes do, woken through
    # Redis; "external": only `flask worker` does, polling. None: "redis" when
    # WORKER_REDIS_URL is set, else "inline-thread".
    WORKER_MODE = None
    WORKER_REDIS_URL = None
    WORKER_QUEUE = "portal"  # the RQ queue and the prefix of the scheduler's keys
    OUTBOX_THREADS = 2  # delivery threads per process in inline-thread mode
    # The safety net: due rows are looked for this often even when no commit woke anyone.
    OUTBOX_POLL_SECONDS = 5
    # A claimed row is another worker's to retry once this passes (the claimer died).
    OUTBOX_LEASE_SECONDS = 120
    OUTBOX_MAX_ATTEMPTS = 8
    # After the n-th failed send: wait base * 2**(n-1) seconds, at most the max.
    OUTBOX_RETRY_BASE_SECONDS = 30
    OUTBOX_RETRY_MAX_SECONDS = 3600
    # Sent or failed rows without a dedupe key are deleted by housekeeping after this.
    OUTBOX_RETENTION_SECONDS = 30 * 24 * 3600
    HOUSEKEEPING_INTERVAL_SECONDS = 3600
    BILLING_RUN_INTERVAL_SECONDS = 3600
    # With inline-thread, run housekeeping and the billing run on their schedule in the app
    # process too, so the dev server needs nothing else started. None: on in development
    # outside tests; off in production, where `flask worker` or cron runs them once for all
    # processes (several processes running them is safe, only wasted work).
    WORKER_SCHEDULE_IN_PROCESS = None
    # The /v1 API (portal/api/). A request holding an Idempotency-Key keeps it this long at most
    # (a crashed one frees it then); another request with the key waits this long for the
    # answer before a 409.
    API_IDEMPOTENCY_LOCK_SECONDS = 60
    API_IDEMPOTENCY_WAIT_SECONDS = 10
    # Requests per second one key may make (Flask-Limiter syntax); "" turns the limit off.
    API_RATE_LIMIT = "100 per second"
    # `livemode` in every API object and event (this portal has no test mode of its own: a
    # staging install sets it to False so its objects say so).
    API_LIVEMODE = True
    # A payment still "processing" this long after it began is asked of the gateway again.
    PAYMENT_RECONCILE_AFTER_SECONDS = 300
    # Webhooks (portal/webhooks): each delivery is one POST with this timeout (connecting,
    # sending, and each read of the answer), never following a redirect.
    WEBHOOK_TIMEOUT_SECONDS = 10
    # A claimed delivery is another worker's to retry once this passes (the claimer died).
    WEBHOOK_LEASE_SECONDS = 120
    # After the n-th failed attempt: wait base * 2**(n-1) seconds, at most the max, and give
    # up once the window since the event (or the resend) has passed.
    WEBHOOK_RETRY_BASE_SECONDS = 60
    WEBHOOK_RETRY_MAX_SECONDS = 4 * 3600
    WEBHOOK_RETRY_WINDOW_SECONDS = 3 * 24 * 3600
    # Delivery threads per process in inline-thread mode, apart from the email threads, so a
    # slow endpoint never holds up a sign-in code.
    WEBHOOK_THREADS = 1
    # http:// endpoint URLs: None allows them in development only; production refuses them.
    WEBHOOK_ALLOW_HTTP = None
    # Running in production (portal/ops, README "Running in production"). Log lines: "json"
    # or "text"; None: json in production, text in development.
    LOG_FORMAT = None
    LOG_LEVEL = "INFO"
    # /metrics answers only when enabled, and then only to the bearer token or to a direct
    # connection from loopback or these networks (CIDR, a JSON list or separated by commas).
    METRICS_ENABLED = False
    METRICS_TOKEN = None
    METRICS_ALLOWED_NETWORKS = None
    # How long /readyz waits for the database and each Redis before calling it unavailable.
    READYZ_TIMEOUT_SECONDS = 2
    # How long a rate limit waits for a Redis in RATELIMIT_STORAGE_URI before counting in the
    # process's memory instead (portal/login/limits.py).
    RATELIMIT_REDIS_TIMEOUT_SECONDS = 1


# The storage URIs that limits hands to redis-py, which waits as long as it is told (5 s in
# redis-py 8 when told nothing; for ever in older releases).
REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://", "redis+sentinel://", "redis+cluster://")

# Settings that must stay text even when an environment variable looks like a number or
# JSON (from_prefixed_env parses PORTAL_SECRET_KEY=123456 as the integer 123456).
TEXT_SETTINGS = ("SECRET_KEY", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_DEFAULT_SENDER",
                 "SQLALCHEMY_DATABASE_URI", "PUBLIC_URL", "WORKER_MODE", "WORKER_REDIS_URL",
                 "WORKER_QUEUE", "METRICS_TOKEN", "LOG_FORMAT", "LOG_LEVEL")
ENVIRONMENTS = ("development", "production")
WORKER_MODES = ("inline-thread", "redis", "external")


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
                f" (at least {SECRET_KEY_MIN_LENGTH} characters; make one with {RANDOM_VALUE_COMMAND})"
            )
        if config.get("MAIL_BACKEND") == "console":
            raise ConfigError("PORTAL_MAIL_BACKEND=console is for development only")
        _check_public_url(config)
        _check_rate_limit_storage(config)
    elif not key:
        config["SECRET_KEY"] = _development_secret_key(instance_path)
    if config.get("SESSION_COOKIE_SECURE") is None:
        config["SESSION_COOKIE_SECURE"] = production
    if config.get("SETTINGS_CACHE_SECONDS") is None:
        config["SETTINGS_CACHE_SECONDS"] = 5 if production else 0
    _engine_options(config)
    _check_worker(config)
    _check_webhooks(config, production)
    _check_operations(config, production)
    hosts = config.get("TRUSTED_HOSTS")
    if isinstance(hosts, str):
        # PORTAL_TRUSTED_HOSTS=billing.example.com is text, not JSON: Flask wants a list.
        hosts = [name for name in hosts.replace(",", " ").split() if name]
    if hosts is None and production:
        hosts = [urlsplit(config["PUBLIC_URL"]).hostname]
    config["TRUSTED_HOSTS"] = list(hosts) if hosts is not None else None


def _engine_options(config: dict) -> None:
    """PostgreSQL connections that give up after PG_CONNECT_TIMEOUT_SECONDS: a database host
    that went silent must cost a request seconds, not the system's TCP timeout of minutes."""
    if not str(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_SECONDS)
    options["connect_args"] = connect_args
    config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _check_public_url(config: dict) -> None:
    """Production answers only at its https address: the login URLs and the trusted host."""
    url = urlsplit(str(config.get("PUBLIC_URL") or ""))
    if url.scheme != "https" or not url.hostname:
        raise ConfigError("PORTAL_PUBLIC_URL must be the portal's https:// address "
                          "(e.g. https://billing.example.com) when PORTAL_ENV=production")


def _check_worker(config: dict) -> None:
    """The background worker's mode, and a lease that outlasts one SMTP step."""
    mode = str(config.get("WORKER_MODE") or "").strip().lower()
    if not mode:
        mode = "redis" if config.get("WORKER_REDIS_URL") else "inline-thread"
    if mode not in WORKER_MODES:
        raise ConfigError(f"PORTAL_WORKER_MODE must be one of {', '.join(WORKER_MODES)}, "
                          f"not {mode!r}")
    if mode == "redis" and not config.get("WORKER_REDIS_URL"):
        raise ConfigError("PORTAL_WORKER_MODE=redis needs PORTAL_WORKER_REDIS_URL, "
                          "e.g. redis://127.0.0.1:6379/1")
    config["WORKER_MODE"] = mode
    if config.get("WORKER_SCHEDULE_IN_PROCESS") is None:
        config["WORKER_SCHEDULE_IN_PROCESS"] = (
            mode == "inline-thread" and config.get("ENV") == "development"
            and not config.get("TESTING"))
    if float(config.get("OUTBOX_POLL_SECONDS", Defaults.OUTBOX_POLL_SECONDS)) <= 0:
        # The poll is what sends retries once their wait is over, and what a lost wake-up left.
        raise ConfigError("PORTAL_OUTBOX_POLL_SECONDS must be more than 0")
    # A lease that ends while the mail server is still answering lets a second worker send
    # the same email again.
    lease = config.get("OUTBOX_LEASE_SECONDS", Defaults.OUTBOX_LEASE_SECONDS)
    timeout = config.get("MAIL_TIMEOUT_SECONDS", Defaults.MAIL_TIMEOUT_SECONDS)
    if float(lease) <= 3 * float(timeout):
        raise ConfigError("PORTAL_OUTBOX_LEASE_SECONDS must be more than three times "
                          "PORTAL_MAIL_TIMEOUT_SECONDS, so a send finishes inside its lease")


def _check_webhooks(config: dict, production: bool) -> None:
    """Webhook endpoints are https in production; a POST ends inside its lease."""
    allow_http = config.get("WEBHOOK_ALLOW_HTTP")
    if isinstance(allow_http, str):
        allow_http = allow_http.strip().lower() in ("1", "true", "yes", "on")
    if allow_http is None:
        allow_http = not production
    if production and allow_http:
        raise ConfigError("PORTAL_WEBHOOK_ALLOW_HTTP is for development only: production "
                          "sends webhooks to https:// endpoints only")
    config["WEBHOOK_ALLOW_HTTP"] = bool(allow_http)
    timeout = float(config.get("WEBHOOK_TIMEOUT_SECONDS", Defaults.WEBHOOK_TIMEOUT_SECONDS))
    if timeout <= 0:
        raise ConfigError("PORTAL_WEBHOOK_TIMEOUT_SECONDS must be more than 0")
    lease = float(config.get("WEBHOOK_LEASE_SECONDS", Defaults.WEBHOOK_LEASE_SECONDS))
    if lease <= 3 * timeout:
        raise ConfigError("PORTAL_WEBHOOK_LEASE_SECONDS must be more than three times "
                          "PORTAL_WEBHOOK_TIMEOUT_SECONDS, so a delivery finishes inside its "
                          "lease")
    window = float(config.get("WEBHOOK_RETRY_WINDOW_SECONDS",
                              Defaults.WEBHOOK_RETRY_WINDOW_SECONDS))
    if window <= 0 or float(config.get("WEBHOOK_RETRY_BASE_SECONDS",
                                       Defaults.WEBHOOK_RETRY_BASE_SECONDS)) <= 0:
        raise ConfigError("PORTAL_WEBHOOK_RETRY_WINDOW_SECONDS and "
                          "PORTAL_WEBHOOK_RETRY_BASE_SECONDS must be more than 0")


LOG_FORMATS = ("json", "text")
METRICS_TOKEN_MIN_LENGTH = 32


def _check_operations(config: dict, production: bool) -> None:
    """The log format and level, and who may read /metrics."""
    import ipaddress
    import logging

    log_format = str(config.get("LOG_FORMAT") or ("json" if production else "text"))
    log_format = log_format.strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"PORTAL_LOG_FORMAT must be json or text, not {log_format!r}")
    config["LOG_FORMAT"] = log_format
    level = str(config.get("LOG_LEVEL") or "INFO").strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError("PORTAL_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    config["LOG_LEVEL"] = level
    enabled = config.get("METRICS_ENABLED")
    if isinstance(enabled, str):
        enabled = enabled.strip().lower() in ("1", "true", "yes", "on")
    config["METRICS_ENABLED"] = bool(enabled)
    networks = config.get("METRICS_ALLOWED_NETWORKS") or []
    if isinstance(networks, str):
        networks = networks.replace(",", " ").split()
    for network in networks:
        try:
            ipaddress.ip_network(str(network), strict=False)
        except ValueError:
            raise ConfigError("PORTAL_METRICS_ALLOWED_NETWORKS must list networks such as "
                              f"10.0.0.0/8, not {str(network)!r}") from None
    config["METRICS_ALLOWED_NETWORKS"] = [str(network) for network in networks]
    token = config.get("METRICS_TOKEN")
    if production and token and len(str(token).strip()) < METRICS_TOKEN_MIN_LENGTH:
        raise ConfigError(f"PORTAL_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} "
                          f"characters when PORTAL_ENV=production (make one with "
                          f"{RANDOM_VALUE_COMMAND})")
    _positive_seconds(config, "READYZ_TIMEOUT_SECONDS")
    # A Redis that hangs (stopped, or a network that drops packets) rather than refusing must
    # not hold each sign-in for ever: the limits wait this long, then count in memory.
    timeout = _positive_seconds(config, "RATELIMIT_REDIS_TIMEOUT_SECONDS")
    if str(config.get("RATELIMIT_STORAGE_URI") or "").startswith(REDIS_SCHEMES):
        options = dict(config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        options.setdefault("socket_connect_timeout", timeout)
        options.setdefault("socket_timeout", timeout)
        config["RATELIMIT_STORAGE_OPTIONS"] = options


def _positive_seconds(config: dict, name: str) -> float:
    """The setting as a number of seconds more than 0 (its default when unset)."""
    value = config.setdefault(name, getattr(Defaults, name))
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = 0
    if value <= 0:
        raise ConfigError(f"PORTAL_{name} must be a number of seconds more than 0")
    config[name] = value
    return value


def _check_rate_limit_storage(config: dict) -> None:
    """memory:// counts per process: with several workers every limit is multiplied."""
    if not config.get("RATELIMIT_ENABLED", True):
        return
    if not str(config.get("RATELIMIT_STORAGE_URI") or "memory://").startswith("memory://"):
        return
    if not config.get("RATELIMIT_SINGLE_PROCESS"):
        raise ConfigError(
            "PORTAL_RATELIMIT_STORAGE_URI=memory:// keeps rate-limit counts in each process, so "
            "several workers multiply every limit: use redis://..., or set "
            "PORTAL_RATELIMIT_SINGLE_PROCESS=true if the portal runs as one process")
    workers = announced_workers()
    if workers > 1:
        raise ConfigError(
            f"PORTAL_RATELIMIT_STORAGE_URI=memory:// with {workers} gunicorn workers multiplies "
            "every rate limit by the worker count: use redis://... or one worker (with "
            "portal.gunicorn_conf: PORTAL_GUNICORN_WORKERS=1)")


def gunicorn_workers(environ=None, cpus: int | None = None) -> int:
    """The workers portal/gunicorn_conf.py starts: PORTAL_GUNICORN_WORKERS, else
    WEB_CONCURRENCY, else two per CPU this process may run on, plus one."""
    environ = os.environ if environ is None else environ
    for name in ("PORTAL_GUNICORN_WORKERS", "WEB_CONCURRENCY"):
        value = str(environ.get(name) or "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    if cpus is None:
        try:
            cpus = len(os.sched_getaffinity(0))  # a container's CPU set, not the host's
        except (AttributeError, OSError):
            cpus = os.cpu_count() or 1
    return 2 * max(cpus, 1) + 1


PORTAL_GUNICORN_CONF = "portal.gunicorn_conf"


def _option_values(words: list[str], short: str, long: str) -> list[str]:
    """The values given to one of gunicorn's options, in each spelling it accepts:
    ``-w 3``, ``-w3``, ``-w=3``, ``--workers 3`` and ``--workers=3``."""
    values = []
    for index, word in enumerate(words):
        if word in (short, long) and index + 1 < len(words):
            values.append(words[index + 1])
        elif word.startswith(f"{long}="):
            values.append(word.split("=", 1)[1])
        elif word.startswith(short) and len(word) > len(short) and not word.startswith("--"):
            values.append(word[len(short):].lstrip("="))
    return values


def _names_portal_gunicorn_conf(words: list[str]) -> bool:
    """Whether gunicorn's arguments load portal/gunicorn_conf.py (-c python:portal.gunicorn_conf)."""
    return any(value == f"python:{PORTAL_GUNICORN_CONF}"
               or value.replace("\\", "/").endswith("portal/gunicorn_conf.py")
               for value in _option_values(words, "-c", "--config"))


def announced_workers(environ=None, argv=None) -> int:
    """The most worker processes gunicorn was told to start (WEB_CONCURRENCY, GUNICORN_CMD_ARGS,
    its command line, or portal/gunicorn_conf.py's count when that config is named with -c),
    1 when none is named. Another gunicorn.conf.py is not read."""
    environ = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv
    counts = [1]
    announced = environ.get("GUNICORN_CMD_ARGS", "")
    try:
        words = shlex.split(announced)
    except ValueError:  # an unbalanced quote: gunicorn will complain, not us
        words = announced.split()
    program = Path(argv[0]) if argv else Path()
    if "gunicorn" in (program.name, program.parent.name) or program.name.startswith("gunicorn"):
        words += list(argv[1:])
    counts += [int(value) for value in _option_values(words, "-w", "--workers")
               if value.strip().isdigit()]
    concurrency = str(environ.get("WEB_CONCURRENCY", "")).strip()
    if concurrency.isdigit():
        counts.append(int(concurrency))
    if _names_portal_gunicorn_conf(words):
        counts.append(gunicorn_workers(environ))
    return max(counts)


def estimated_secret_bits(text: str) -> float:
    """A cautious estimate of the randomness in ``text``, in bits.

    The length times the Shannon entropy per character, of the characters and of the steps
    between neighbours, whichever is lower: repeated characters ("aaaa...") score nothing on
    the first, runs ("0123...", "abcd...") nothing on the second. A key that repeats a chunk
    of itself scores only its distinct three-character pieces.
    """
    if len(text) < 3:
        return 0.0

    def per_symbol(symbols) -> float:
        counts = Counter(symbols)
        total = sum(counts.values())
        return -sum(n / total * math.log2(n / total) for n in counts.values())

    steps = [ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)]
    pieces = [text[i:i + 3] for i in range(len(text) - 2)]
    distinct = len(set(pieces)) / len(pieces)
    return len(text) * min(per_symbol(text), per_symbol(steps)) * min(1.0, distinct / 0.75)


def _is_development_key(key, instance_path: str) -> bool:
    """Missing, short, too predictable, a tutorial value, or the key development mode made."""
    if not key:
        return True
    text = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
    if text.strip().lower() in DEVELOPMENT_SECRET_KEYS or len(text.strip()) < SECRET_KEY_MIN_LENGTH:
        return True
    if estimated_secret_bits(text.strip()) < SECRET_KEY_MIN_BITS:
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
