"""The self-hosted customer billing portal: ``create_app`` builds it."""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import secrets
from pathlib import Path

from flask import Flask, g, render_template, request, url_for
from jinja2 import ChoiceLoader, FileSystemLoader

from portal import config as config_module
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
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")

# Blueprints by feature; each module exposes ``bp``.
BLUEPRINTS = (
    "portal.login.views",
    "portal.customers.views",
    "portal.payments.views",
    "portal.invoices.views",
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

    if app.config["PROXY_FIX_X_FOR"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_FIX_X_FOR"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    # Designers override any template by putting a file of the same name in instance/templates.
    app.jinja_loader = ChoiceLoader(
        [FileSystemLoader(str(Path(app.instance_path) / "templates")), app.jinja_loader]
    )

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
    babel.init_app(app, locale_selector=_select_locale)

    from portal import models  # noqa: F401  (the whole schema, for Alembic)

    for module in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(module).bp)
    if app.config["MAIL_BACKEND"] == "console":
        from portal.devtools.views import bp as devtools_bp

        app.register_blueprint(devtools_bp)

    _register_template_helpers(app)
    _register_error_pages(app)
    _register_security_headers(app)

    from portal.cli import register_commands

    register_commands(app)
    return app


def _select_locale():
    from portal.customers.auth import current_customer

    supported = ["en"]
    customer = current_customer()
    for locale in (customer.preferred_locales if customer else None) or []:
        if locale.split("-")[0] in supported:
            return locale.replace("-", "_")  # Babel reads en_GB, not en-GB
    return request.accept_languages.best_match(supported) or "en"


def _register_template_helpers(app: Flask) -> None:
    from flask_babel import format_date, format_datetime, get_locale

    from portal.money import format_money

    hashes: dict[str, tuple[int, str]] = {}

    def static_url(filename: str) -> str:
        """A static URL carrying the file's content hash, so it can be cached for a year."""
        path = Path(app.static_folder) / filename
        # Keyed by modification time, so a stylesheet edited in development gets a new URL.
        stamp = path.stat().st_mtime_ns
        if filename not in hashes or hashes[filename][0] != stamp:
            hashes[filename] = (stamp, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
        return url_for("static", filename=filename, v=hashes[filename][1])

    @app.template_filter("money")
    def money_filter(amount, currency):
        return format_money(int(amount or 0), currency, str(get_locale() or "en"))

    @app.template_filter("date")
    def date_filter(value, format="medium"):
        return format_date(value, format) if value else ""

    @app.template_filter("datetime")
    def datetime_filter(value, format="medium"):
        return format_datetime(value, format) if value else ""

    @app.context_processor
    def inject_branding():
        from portal.customers.auth import current_customer
        from portal.portal_settings.operations import configuration_for_request, get_branding

        return {
            "branding": get_branding(db.session),
            # Callables, so pages that never ask pay nothing for them.
            "current_customer": current_customer,
            "portal_configuration": configuration_for_request,
            "static_url": static_url,
            "csp_nonce": g.get("csp_nonce", ""),
        }

    @app.template_filter("css_color")
    def css_color(value, default="#1f4fd1"):
        """Only #rgb or #rrggbb reaches the stylesheet: branding is merchant input."""
        return value if value and _HEX_COLOR.fullmatch(value) else default


def _register_error_pages(app: Flask) -> None:
    def page(status, title, message):
        return render_template("error.html", title=title, message=message), status

    app.register_error_handler(400, lambda e: page(400, "Something was wrong with that request",
                                                   "Go back, reload the page and try again."))
    app.register_error_handler(404, lambda e: page(404, "Page not found",
                                                   "Check the address, or go back to the page you came from."))
    app.register_error_handler(429, lambda e: page(429, "Too many attempts",
                                                   "Wait a few minutes, then try again."))
    app.register_error_handler(500, lambda e: page(500, "Sorry, something went wrong",
                                                   "Try again in a few minutes."))


def _register_security_headers(app: Flask) -> None:
    @app.before_request
    def make_nonce():
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def headers(response):
        # The nonce admits only the layout's one <style> with the brand colours.
        nonce = g.get("csp_nonce", "")
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; img-src 'self' data:; style-src 'self' 'nonce-{nonce}'; "
            "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.path.startswith("/p/"):
            response.headers.setdefault("Cache-Control", "no-store")
        elif request.endpoint == "static" and request.args.get("v"):
            # static_url() puts the content hash in ?v=, so a changed file gets a new URL.
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
