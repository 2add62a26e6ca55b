"""Security and caching headers on every response."""

from __future__ import annotations

import secrets

from flask import Flask, g, request


def register_security_headers(app: Flask) -> None:
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
