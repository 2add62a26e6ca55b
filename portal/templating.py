"""Jinja filters, tests and the context every template gets (branding, static URLs)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app, has_request_context, url_for

from portal import branding as branding_rules
from portal.compression import content_hash, hashed_name
from portal.headers import csp_nonce
from portal.request_context import (
    branding_for_request,
    configuration_for_request,
    current_customer,
)


def register_template_helpers(app: Flask) -> None:
    from flask_babel import format_date, format_datetime, get_locale

    from portal.money import format_money

    # In production the files change only with a deploy, which restarts the processes: hash
    # each one once, not on every page (a stat and a lock per call, three calls a page). In
    # development a designer's edit gets a new URL at once.
    fixed_files = app.config["ENV"] == "production" and not app.config.get("STATIC_AUTOREFRESH")
    digests: dict[str, str] = {}

    def static_url(filename: str) -> str:
        """A static URL with the file's content hash in its name (``/static/portal.<hash>.css``),
        so it can be cached for a year."""
        digest = digests.get(filename) if fixed_files else None
        if digest is None:
            # Read again when the file changes, so an edited stylesheet gets a new URL.
            digest = content_hash(Path(app.static_folder) / filename)
            if fixed_files:
                digests[filename] = digest
        # In the name rather than ?v=: some caches and proxies ignore or drop query strings.
        return url_for("static", filename=hashed_name(filename, digest))

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
    def css_color(value, default=branding_rules.DEFAULT_BRAND):
        """Only a normalised #rrggbb reaches a stylesheet or a style attribute: branding is
        merchant input."""
        return branding_rules.safe_hex(value, default)

    @app.template_filter("css_variables")
    def css_variables(branding, selector=":root"):
        """The branding as CSS custom properties, for the layout's one <style nonce>: built
        from normalised colours and fixed font stacks only (portal.branding), with no character
        HTML escaping would change, so it is escaped like any text and still reads as CSS."""
        return branding_rules.css_variables(branding, selector)

    @app.template_filter("branding_look")
    def branding_look(branding):
        """Colours and font derived from the branding (portal.branding.Look), for emails,
        whose clients ignore custom properties and need the values inline."""
        return branding_rules.look_of(branding)

    @app.template_global()
    def branding_image_url(kind, branding=None, external=False):
        """The URL of the merchant's icon or logo, carrying the stored name so a new image gets
        a new URL (it is cached for a day); ``external`` for emails, from PUBLIC_URL. None when
        there is no image."""
        branding = branding if branding is not None else branding_for_request()
        name = getattr(branding, kind, None)
        if not name:
            return None
        if not external and has_request_context():
            return url_for("branding.branding_image", kind=kind, v=name)
        # Emails render with no request: build the URL from PUBLIC_URL, not the request's host.
        base = urlsplit(str(current_app.config.get("PUBLIC_URL") or ""))
        if base.scheme not in ("http", "https") or not base.netloc:
            return None
        adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/",
                                           url_scheme=base.scheme)
        return adapter.build("branding.branding_image", {"kind": kind, "v": name},
                             force_external=True)
