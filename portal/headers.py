"""Security and caching headers on every response."""

from __future__ import annotations

import secrets

from flask import Flask, has_request_context, request

_NONCE = "portal.csp_nonce"


def csp_nonce() -> str:
    """This request's CSP nonce, made on first use.

    Made lazily, not in a before_request: a check that fails earlier (Flask-WTF's CSRF check is
    one) would otherwise render its page with an empty nonce, and the browser would block the
    layout's <style>. Kept on the request, not on ``g``, which can outlive a request.
    """
    if not has_request_context():
        return ""  # emails and PDFs rendered outside a request carry no CSP
    nonce = request.environ.get(_NONCE)
    if nonce is None:
        nonce = request.environ[_NONCE] = secrets.token_urlsafe(16)
    return nonce


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def headers(response):
        # The nonce admits only the layout's one <style> with the brand colours. Not on htmx's
        # requests: their answers are fetched and swapped into a page that has its own policy,
        # never loaded as documents (a navigation cannot send HX-Request, and Vary: HX-Request
        # with no-store keeps them out of caches), and the header's 200 bytes would take an
        # action's answer past its 4 KB budget.
        if request.headers.get("HX-Request") != "true":
            response.headers.setdefault(
                "Content-Security-Policy",
                f"default-src 'self'; img-src 'self' data:; style-src 'self' "
                f"'nonce-{csp_nonce()}'; script-src 'self'; frame-ancestors 'none'; "
                "form-action 'self'; base-uri 'none'",
            )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        hsts = app.config.get("STRICT_TRANSPORT_SECURITY")
        if hsts and app.config["ENV"] == "production":
            # Every response, not only those known to be HTTPS: behind a proxy that does not
            # forward the scheme the app cannot tell, and browsers ignore it over plain HTTP.
            response.headers.setdefault("Strict-Transport-Security", hsts)
        if request.path.startswith(("/p/", "/dev/", "/admin")):
            # Replaces what send_file set for PDFs: customer data stays out of every cache,
            # redirects and errors included.
            response.headers["Cache-Control"] = "no-store, private"
            response.headers.pop("Expires", None)
        elif (request.endpoint == "static" and request.args.get("v")
              and response.status_code == 200):
            # Flask serves /static/ only when WhiteNoise could not (portal/compression.py
            # handles hashed names); an old page's ?v=<hash> is still a versioned URL there.
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
