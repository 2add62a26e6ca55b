"""Errors in Stripe's shape: ``{"error": {"type", "code", "message", "param"}}`` and its statuses.

stripe-python picks its exception class from the status and ``type`` (400/404
InvalidRequestError, 401 AuthenticationError, 402 CardError, 409 with ``idempotency_error``
IdempotencyError, 429 RateLimitError, 5xx APIError), so both must match Stripe's.
"""

from __future__ import annotations

from flask import jsonify

TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 402: "card_error",
         403: "invalid_request_error", 404: "invalid_request_error", 405: "invalid_request_error",
         409: "invalid_request_error", 413: "invalid_request_error",
         415: "invalid_request_error", 429: "invalid_request_error", 500: "api_error"}


class ApiError(Exception):
    """An answer in Stripe's error shape; raise it anywhere under an API view."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 param: str | None = None, type: str | None = None, saved: bool = True,
                 **extra):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.type = type or TYPES.get(status, "api_error" if status >= 500 else
                                      "invalid_request_error")
        # False for a refusal before the endpoint started (its parameters): an idempotency
        # key is then free to be used again, as on Stripe.
        self.saved = saved
        self.extra = extra

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}

    def response(self):
        response = jsonify(self.body())
        response.status_code = self.status
        return response


def not_found(object_name: str, object_id: str, param: str = "id") -> ApiError:
    """Stripe's 404 for an id that names nothing (or something of another kind)."""
    return ApiError(404, f"No such {object_name}: '{object_id}'", code="resource_missing",
                    param=param)
