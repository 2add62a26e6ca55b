"""How every /v1 request is handled, once: key, parameters, idempotency, answer, errors.

An endpoint is a plain function declared with :func:`endpoint`: its method, path, the
parameters it takes (``portal.api.params`` types) and the object it returns. The decorator
registers it on the blueprint and in ``ENDPOINTS`` (which the OpenAPI document is built from),
and wraps it so the function itself only calls operations and serializes::

    @endpoint("POST", "/customers/<customer_id>", params=UPDATE, returns="customer",
              summary="Update a customer")
    def update_customer(call: ApiCall, customer_id: str) -> dict: ...

The wrapper: request id; the secret key (Bearer or HTTP basic, as Stripe's clients send it);
the parameters from the query string (GET, DELETE) or the form body (POST), unflattened and
checked; the Idempotency-Key (POST); the call; one commit holding the work and the stored
answer; errors in Stripe's shape, the session rolled back.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import wraps

from flask import Blueprint, Response, current_app, g, request

from portal import dbtypes
from portal.api.errors import ApiError
from portal.api.params import Param, parse_fields, unflatten
from portal.extensions import db
from portal.ids import new_id
from portal.integration import idempotency
from portal.integration.models import ApiKey
from portal.integration.operations import authenticate

log = logging.getLogger("portal.api")

bp = Blueprint("api", __name__, url_prefix="/v1")
BODY_LIMIT = 1024 * 1024
_FORM = "application/x-www-form-urlencoded"


@dataclass
class Endpoint:
    """One operation of the API, as the OpenAPI document describes it."""

    method: str
    path: str  # Flask's rule under /v1, e.g. /customers/<customer_id>
    name: str
    summary: str
    params: dict[str, Param]
    returns: str | None  # the object's name ("customer"), "list:customer", or None
    tag: str
    status: int = 200
    deleted: bool = False  # answers {"id", "object", "deleted": true}


ENDPOINTS: list[Endpoint] = []


@dataclass
class ApiCall:
    """What an endpoint function is given: the session, the time and who is calling."""

    session: object
    now: datetime
    api_key: ApiKey
    request_id: str
    idempotency_key: str | None
    params: dict = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"api:{self.api_key.id}"

    def __getitem__(self, name: str):
        return self.params[name]

    def get(self, name: str, default=None):
        return self.params.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.params


def endpoint(method: str, path: str, *, params: dict[str, Param] | None = None,
             returns: str | None, summary: str, tag: str, status: int = 200,
             deleted: bool = False) -> Callable:
    """Register ``function`` as the answer to ``method path`` (under /v1)."""
    def register(function: Callable) -> Callable:
        spec = Endpoint(method, path, function.__name__, summary, dict(params or {}), returns,
                        tag, status, deleted)
        ENDPOINTS.append(spec)

        @wraps(function)
        def view(**path_values):
            return _handle(spec, function, path_values)

        bp.add_url_rule(path, endpoint=function.__name__, view_func=view, methods=[method])
        return function

    return register


def _handle(spec: Endpoint, function: Callable, path_values: dict) -> Response:
    request_id = g.api_request_id = new_id("req", 14)
    run: idempotency.Run | None = None
    key = None
    session = db.session
    try:
        api_key = _authenticate(session)
        pairs = _parameter_pairs(spec)
        raw = unflatten(pairs)
        values = parse_fields(spec.params, raw)
        if spec.method == "POST":
            key = _idempotency_key()
        call = ApiCall(session=session, now=dbtypes.utcnow(), api_key=api_key,
                       request_id=request_id, idempotency_key=key, params=values)
        g.api_idempotency_key = key
        if key is not None:
            outcome = _begin(session, spec, key, pairs, api_key, request_id)
            if isinstance(outcome, idempotency.Replay):
                return _replayed(outcome, key)
            run = outcome
        result = function(call, **path_values)
        status = spec.status
        body = json.dumps(result, separators=(",", ":"), ensure_ascii=False)
        if run is not None:
            idempotency.finish(session, run, status=status, body=body)
        session.commit()
        return _response(body, status, request_id, key)
    except ApiError as error:
        session.rollback()
        body = json.dumps(error.body(), separators=(",", ":"), ensure_ascii=False)
        if run is not None:
            _settle_after_error(session, run, error, body)
        return _response(body, error.status, request_id, key, error=error)
    except Exception:
        session.rollback()
        log.exception("api: %s %s failed (%s)", spec.method, spec.path, request_id)
        if run is not None:
            _abandon_quietly(session, run)
        error = ApiError(500, "Something went wrong on our end: nothing was changed. Try "
                         "the request again, with the same Idempotency-Key.", type="api_error")
        return _response(json.dumps(error.body()), 500, request_id, key, error=error)


# ---- the steps -----------------------------------------------------------------------------------

def _authenticate(session) -> ApiKey:
    secret = _secret_from_headers()
    if secret is None:
        raise ApiError(401, "You did not provide an API key. You need to provide your API key "
                       "in the Authorization header, using Bearer auth (e.g. 'Authorization: "
                       "Bearer YOUR_SECRET_KEY').", saved=False)
    key = authenticate(session, secret, now=dbtypes.utcnow())
    if key is None:
        shown = secret[:8] + "*" * 4 + secret[-4:] if len(secret) > 16 else "*" * 4
        raise ApiError(401, f"Invalid API Key provided: {shown}", code="api_key_invalid",
                       saved=False)
    return key


def _secret_from_headers() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            user, _, _password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return user
    return None


def _parameter_pairs(spec: Endpoint) -> list[tuple[str, str]]:
    pairs = list(request.args.items(multi=True))
    if spec.method in ("POST",):
        if (request.content_length or 0) > BODY_LIMIT:
            raise ApiError(413, "The request body is too large: send at most 1 MB.",
                           saved=False)
        if request.mimetype not in (_FORM, "") and request.get_data(cache=True):
            raise ApiError(415, f"Invalid request: send the parameters form-encoded "
                           f"({_FORM}), as Stripe's clients do.", saved=False)
        pairs += list(request.form.items(multi=True))
    return pairs


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > idempotency.MAX_KEY_LENGTH:
        raise ApiError(400, "Idempotency-Key must be 1 to 255 characters long.",
                       type="idempotency_error", saved=False)
    return key


def _begin(session, spec: Endpoint, key: str, pairs, api_key: ApiKey, request_id: str):
    config = current_app.config
    try:
        return idempotency.begin(
            session, key=key, fingerprint=idempotency.fingerprint(spec.method, request.path,
                                                                 pairs),
            method=spec.method, path=request.path, api_key_id=api_key.id, request_id=request_id,
            now=dbtypes.utcnow(), clock=dbtypes.utcnow,
            lock_for=timedelta(seconds=float(config["API_IDEMPOTENCY_LOCK_SECONDS"])),
            wait_for=timedelta(seconds=float(config["API_IDEMPOTENCY_WAIT_SECONDS"])))
    except idempotency.IdempotencyMismatch:
        raise ApiError(400, "Keys for idempotent requests can only be used with the same "
                       "parameters they were first used with. Try using a key other than "
                       f"'{key}' if you meant to execute a different request.",
                       type="idempotency_error", saved=False) from None
    except idempotency.IdempotencyInProgress:
        raise ApiError(409, "There is currently another in-progress request using this "
                       f"Idempotency-Key (that probably means you submitted twice, and the other "
                       f"request is still going through): {key}. Please try again later.",
                       code="idempotency_key_in_use", saved=False) from None


def _settle_after_error(session, run: idempotency.Run, error: ApiError, body: str) -> None:
    """A refusal from the endpoint itself is the key's answer (as on Stripe); one before it
    started frees the key."""
    try:
        if error.saved:
            idempotency.finish(session, run, status=error.status, body=body)
            session.commit()
        else:
            idempotency.abandon(session, run)
    except Exception:  # noqa: BLE001 (the answer goes out anyway; the lock runs out)
        session.rollback()
        log.exception("api: could not settle idempotency key after an error")


def _abandon_quietly(session, run: idempotency.Run) -> None:
    try:
        idempotency.abandon(session, run)
    except Exception:  # noqa: BLE001
        session.rollback()
        log.exception("api: could not free an idempotency key after a failure")


def _replayed(replay: idempotency.Replay, key: str) -> Response:
    response = _response(replay.body, replay.status, g.api_request_id, key)
    response.headers["Idempotent-Replayed"] = "true"
    response.headers["Original-Request"] = replay.request_id
    return response


def _response(body: str, status: int, request_id: str, key: str | None,
              error: ApiError | None = None) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Request-Id"] = request_id
    if key is not None:
        response.headers["Idempotency-Key"] = key
    if error is not None and status < 500 and status != 409:
        # stripe-python retries only what this does not forbid: a refusal is final.
        response.headers["Stripe-Should-Retry"] = "false"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="Billing portal API"'
    return response


def error_response(status: int, message: str, *, code: str | None = None) -> Response:
    """An HTTP error met before any endpoint (unknown URL, wrong method) in Stripe's shape."""
    error = ApiError(status, message, code=code)
    return _response(json.dumps(error.body()), status, new_id("req", 14), None, error=error)
