"""The /v1 API's blueprint: every resource module registers its endpoints on it.

Stripe's wire format (portal/api/routing.py handles every request the same way); the
endpoints are in portal/api/resources/, one module per kind of object, and call the same
operations the portal and the dashboard call.
"""

from __future__ import annotations

import importlib

from flask import current_app, request

from portal import errors
from portal.api.routing import ENDPOINTS, bp, error_response
from portal.extensions import csrf, limiter

RESOURCES = (
    "portal.api.resources.openapi",
    "portal.api.resources.portal_configurations",
    "portal.api.resources.portal_sessions",
    "portal.api.resources.webhook_endpoints",
    "portal.api.resources.customers",
    "portal.api.resources.products",
    "portal.api.resources.prices",
    "portal.api.resources.payment_methods",
    "portal.api.resources.subscriptions",
    "portal.api.resources.invoices",
)

# The API authenticates every request by its secret key; there is no cookie to forge.
csrf.exempt(bp)

for _module in RESOURCES:
    importlib.import_module(_module)


def _object_of_rule() -> str | None:
    rule = request.url_rule
    if rule is None:
        return None
    for spec in ENDPOINTS:
        if f"api.{spec.name}" == rule.endpoint:
            return spec.returns
    return None


def _api_error(status: int, error):
    """Errors met before an endpoint ran (routing, the id check, limits), in Stripe's shape."""
    method, path = request.method, request.path
    if status == 404:
        returns = _object_of_rule()
        values = request.view_args or {}
        value = next((v for k, v in values.items() if k.endswith("_id")), None)
        if returns and value is not None:
            return error_response(404, f"No such {returns}: '{value}'", code="resource_missing")
        return error_response(404, f"Unrecognized request URL ({method}: {path}).")
    if status == 405:
        return error_response(404, f"Unrecognized request URL ({method}: {path}).")
    if status == 429:
        return error_response(429, "Too many requests hit the API too quickly. Slow down and "
                              "retry with exponential backoff.", code="rate_limit")
    if status >= 500:
        return error_response(500, "Something went wrong on our end: nothing was changed. "
                              "Try the request again.")
    description = getattr(error, "description", None) or "The request could not be read."
    return error_response(status, str(description))


errors.render_errors_under("/v1", _api_error)


def _rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT") or "1000000 per second"


def _rate_key() -> str:
    # Per key (the secret's last characters and length are enough to tell keys apart for a
    # limit, and no secret is kept in the limiter's storage); per address without one.
    header = request.headers.get("Authorization", "")
    return "api:" + (header[-12:] if header else request.remote_addr or "")


limiter.limit(_rate_limit, key_func=_rate_key, exempt_when=lambda: not
              current_app.config.get("API_RATE_LIMIT"))(bp)
