"""The self-hosted customer billing portal: ``create_app`` builds it."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from flask import Flask

from portal import config as config_module
from portal import designer, errors, headers, i18n, request_guard, templating
from portal.extensions import (
    babel,
    csrf,
    db,
    enable_sqlite_foreign_keys,
    limiter,
    mail,
    migrate,
)

PACKAGE_DIR = Path(__file__).resolve().parent

# Blueprints by feature; each module exposes ``bp``.
BLUEPRINTS = (
    "portal.login.views",
    "portal.language.views",
    "portal.customers.views",
    "portal.payments.views",
    "portal.invoices.views",
    "portal.subscriptions.views",
    "portal.portal_settings.views",
    "portal.portal_settings.session_views",
    "portal.catalog.views",
    # The merchant dashboard: staff sign-in, then one blueprint per area, all under /admin.
    "portal.admin.views",
    "portal.admin.dashboard.views",
    "portal.admin.catalog.views",
    "portal.admin.customers.views",
    "portal.admin.portal_config.views",
    "portal.admin.branding.views",
    "portal.admin.developers.views",
    "portal.admin.webhooks.views",
    # The Stripe-compatible API for the merchant's systems, under /v1.
    "portal.api.views",
    # /healthz, /readyz and /metrics for load balancers and Prometheus (portal/ops).
    "portal.ops.health",
)


def resource_dir(name: str) -> Path:
    """templates/, static/ and migrations/ sit in the package when installed from a wheel,
    and beside it in a source checkout."""
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name


def create_app(config: dict | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then PORTAL_* variables, then ``config``."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or None,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    app.config.from_object(config_module.Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("PORTAL")
    if config:
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    config_module.finish(app.config, app.instance_path)

    # Wrapped inside out: the request meets the metrics' timer, then its request id, then
    # ProxyFix, then the host check, then WhiteNoise's static files (before Flask, so no
    # session cookie), then Flask with compressed pages.
    from portal import compression

    compression.init_app(app)
    if app.config["TRUSTED_HOSTS"]:
        from portal.ops.health import PROBE_PATHS
        from portal.proxy import TrustedHostsOnly

        app.wsgi_app = TrustedHostsOnly(app.wsgi_app, app.config["TRUSTED_HOSTS"],
                                        let_by=PROBE_PATHS)
    if app.config["PROXY_FIX_X_FOR"]:
        from portal.proxy import behind_proxies

        # X-Forwarded-For and -Proto only: a forwarded Host must never build a URL.
        app.wsgi_app = behind_proxies(app.wsgi_app, int(app.config["PROXY_FIX_X_FOR"]))
    from portal.ops import logs as ops_logs
    from portal.ops import metrics as ops_metrics

    ops_logs.init_app(app)  # request ids, and log lines in PORTAL_LOG_FORMAT
    ops_metrics.init_app(app)  # outermost: what is refused early is timed too

    # Designers override any template by putting a file of the same name in instance/templates
    # ("original/NAME" is always the portal's own, for an override that extends it).
    designer.init_app(app)

    db.init_app(app)
    with app.app_context():
        enable_sqlite_foreign_keys(db.engine)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")), render_as_batch=True,
                     compare_type=True)
    mail.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    from portal.customers.auth import PortalSessionInterface

    app.session_interface = PortalSessionInterface()  # Secure cookie whenever served over HTTPS
    babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.init_app(app)

    from portal import models  # noqa: F401  (the whole schema, for Alembic)

    for module in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(module).bp)
    from portal.outbox import wakeup

    wakeup.init_app(app)  # commits that add outbox rows wake delivery
    # Imported for its commit hook: each commit records its webhook events.
    import portal.webhooks.recording  # noqa: F401
    from portal.admin import auth as admin_auth

    admin_auth.init_app(app)  # the staff cookie, apart from the customer's session
    if app.config["MAIL_BACKEND"] == "console":
        from portal.devtools.views import bp as devtools_bp

        app.register_blueprint(devtools_bp)

    from portal.portal_settings.sessions import install_log_redaction

    install_log_redaction(app)  # a portal session URL's token never reaches a log line
    templating.register_template_helpers(app)
    errors.register_error_pages(app)
    request_guard.register_request_guard(app)
    headers.register_security_headers(app)

    from portal.cli import register_commands

    register_commands(app)
    designer.check_app(app)  # last: overrides may use every filter and test registered above
    return app
