"""Jinja filters, tests and the context every template gets (branding, static URLs)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask, url_for

from portal.compression import content_hash
from portal.headers import csp_nonce
from portal.request_context import (
    branding_for_request,
    configuration_for_request,
    current_customer,
)

_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")


def register_template_helpers(app: Flask) -> None:
    from flask_babel import format_date, format_datetime, get_locale

    from portal.money import format_money

    # In production the files change only with a deploy, which restarts the processes: hash
    # each one once, not on every page (a stat and a lock per call, three calls a page). In
    # development a designer's edit gets a new URL at once.
    fixed_files = app.config["ENV"] == "production" and not app.config.get("STATIC_AUTOREFRESH")
    digests: dict[str, str] = {}

    def static_url(filename: str) -> str:
        """A static URL carrying the file's content hash, so it can be cached for a year."""
        digest = digests.get(filename) if fixed_files else None
        if digest is None:
            # Read again when the file changes, so an edited stylesheet gets a new URL.
            digest = content_hash(Path(app.static_folder) / filename)
            if fixed_files:
                digests[filename] = digest
        return url_for("static", filename=filename, v=digest)

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
        # Read once per request (portal.request_context), however many templates render.
        return {
            "branding": branding_for_request(),
            # Callables, so pages that never ask pay nothing for them.
            "current_customer": current_customer,
            "portal_configuration": configuration_for_request,
            "static_url": static_url,
            "csp_nonce": csp_nonce(),  # the same nonce the header names, made on first use
        }

    @app.template_filter("css_color")
    def css_color(value, default="#1f4fd1"):
        """Only #rgb or #rrggbb reaches the stylesheet: branding is merchant input."""
        return value if value and _HEX_COLOR.fullmatch(value) else default
