"""Webhook endpoints: create, update, delete, list, reveal the secret, resend an event.

Shared by the dashboard and the API. Each write takes the session, ``now`` and ``actor``,
flushes, and raises one audit event (never with the secret in it); the caller commits.
Refusals are ``WebhookRefused(message, param=)`` with Stripe's parameter names.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal.events import raise_event
from portal.outbox.delivery import unfinished
from portal.outbox.models import OutboxMessage
from portal.webhooks.models import Event, WebhookAttempt, WebhookEndpoint
from portal.webhooks.recording import delivery_payload, retry_window
from portal.webhooks.signing import new_secret, seal_secret, unseal_secret
from portal.webhooks.types import ALL_EVENTS, WEBHOOK_TYPES, wants

URL_MAX_LENGTH = 2048
DESCRIPTION_MAX_LENGTH = 5000
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_LENGTH = 40
METADATA_VALUE_MAX_LENGTH = 500
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")
_UNSET = object()


class WebhookRefused(ValueError):
    """The endpoint cannot be saved as asked; ``param`` names the parameter at fault."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param


def _allow_http(allow_http: bool | None) -> bool:
    if allow_http is not None:
        return allow_http
    from flask import current_app, has_app_context

    return bool(current_app.config.get("WEBHOOK_ALLOW_HTTP")) if has_app_context() else False


# ---- rules -------------------------------------------------------------------------------

def clean_url(url, *, allow_http: bool | None = None) -> str:
    """An absolute https:// URL (http:// too outside production), with a host and no user
    name or password in it."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookRefused("Enter the endpoint's URL, such as https://example.com/webhooks",
                             param="url")
    url = url.strip()
    if len(url) > URL_MAX_LENGTH:
        raise WebhookRefused(f"Enter a URL of {URL_MAX_LENGTH} characters or fewer", param="url")
    if _CONTROL.search(url):
        raise WebhookRefused("Enter the URL without spaces or control characters", param="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError:
        raise WebhookRefused("Enter a URL such as https://example.com/webhooks",
                             param="url") from None
    schemes = ("https", "http") if _allow_http(allow_http) else ("https",)
    if parts.scheme.lower() not in schemes:
        raise WebhookRefused("Enter a URL that starts with https://" if "http" not in schemes
                             else "Enter a URL that starts with https:// or http://", param="url")
    if not parts.hostname:
        raise WebhookRefused("Enter a URL with a host name, such as https://example.com/webhooks",
                             param="url")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("Enter the URL without a user name or password in it", param="url")
    if parts.fragment:
        raise WebhookRefused("Enter the URL without a #fragment", param="url")
    return url


def clean_enabled_events(events) -> list[str]:
    """A non-empty list of known event types, or ``["*"]`` for all; repeats dropped."""
    if isinstance(events, str):
        events = [events]
    if not isinstance(events, list | tuple) or not events:
        raise WebhookRefused("Choose at least one event to send", param="enabled_events")
    cleaned: list[str] = []
    for value in events:
        if not isinstance(value, str) or (value not in WEBHOOK_TYPES and value != ALL_EVENTS):
            shown = value if isinstance(value, str) else repr(value)
            raise WebhookRefused(f"Invalid event type: {shown[:100]}. Choose from the "
                                 "events webhooks can send", param="enabled_events")
        if value not in cleaned:
            cleaned.append(value)
    return [ALL_EVENTS] if ALL_EVENTS in cleaned else cleaned


def clean_description(description) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise WebhookRefused("Enter the description as text", param="description")
    description = description.strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise WebhookRefused(f"Enter a description of {DESCRIPTION_MAX_LENGTH} characters or "
                             "fewer", param="description")
    return description or None


def clean_metadata(metadata, current: dict | None = None) -> dict:
    """Stripe's rule: keys are added or replaced, a key set to "" (or None) is removed."""
    if not isinstance(metadata, dict):
        raise WebhookRefused("Metadata must be a set of keys and values", param="metadata")
    merged = dict(current or {})
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > METADATA_KEY_MAX_LENGTH:
            raise WebhookRefused(f"Metadata keys must be 1 to {METADATA_KEY_MAX_LENGTH} "
                                 "characters long", param="metadata")
        if value in ("", None):
            merged.pop(key, None)
            continue
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise WebhookRefused("Metadata values must be text", param="metadata")
        value = str(value)
        if len(value) > METADATA_VALUE_MAX_LENGTH:
            raise WebhookRefused(f"Metadata values must be {METADATA_VALUE_MAX_LENGTH} "
                                 "characters or fewer", param="metadata")
        merged[key] = value
    if len(merged) > METADATA_MAX_KEYS:
        raise WebhookRefused(f"Metadata can have at most {METADATA_MAX_KEYS} keys",
                             param="metadata")
    return merged


def clean_api_version(api_version) -> str | None:
    if api_version in (None, ""):
        return None
    if not isinstance(api_version, str) or not _API_VERSION.fullmatch(api_version):
        raise WebhookRefused("Invalid API version: use a date such as 2026-10-28",
                             param="api_version")
    return api_version


# ---- endpoints ---------------------------------------------------------------------------

def create_endpoint(session: Session, *, url, enabled_events, description=None,
                    metadata=None, api_version=None, disabled: bool = False, now: datetime,
                    actor: str, allow_http: bool | None = None) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint with a fresh signing secret; returns it and the secret (in clear:
    show it once, never log it)."""
    values = {"url": clean_url(url, allow_http=allow_http),
              "enabled_events": clean_enabled_events(enabled_events),
              "description": clean_description(description),
              "metadata_": clean_metadata(metadata or {}),
              "api_version": clean_api_version(api_version)}
    secret = new_secret()
    endpoint = WebhookEndpoint(status="disabled" if disabled else "enabled",
                               secret_sealed=seal_secret(secret), created=now, updated=now,
                               **values)
    session.add(endpoint)
    session.flush()
    raise_event(session, "webhook_endpoint.created", now=now, actor=actor,
                object_id=endpoint.id,
                data={"url": endpoint.url, "enabled_events": endpoint.enabled_events,
                      "status": endpoint.status})
    return endpoint, secret


def update_endpoint(session: Session, endpoint: WebhookEndpoint, *, now: datetime, actor: str,
                    url=_UNSET, enabled_events=_UNSET, description=_UNSET, disabled=_UNSET,
                    metadata=_UNSET, allow_http: bool | None = None) -> list[str]:
    """Change what is given (Stripe's names); returns the names of what changed. Disabling
    stops the endpoint's pending deliveries."""
    changes: dict = {}
    if url is not _UNSET:
        changes["url"] = clean_url(url, allow_http=allow_http)
    if enabled_events is not _UNSET:
        changes["enabled_events"] = clean_enabled_events(enabled_events)
    if description is not _UNSET:
        changes["description"] = clean_description(description)
    if metadata is not _UNSET:
        changes["metadata_"] = clean_metadata(metadata or {}, endpoint.metadata_)
    if disabled is not _UNSET:
        if not isinstance(disabled, bool):
            raise WebhookRefused("Disabled must be true or false", param="disabled")
        changes["status"] = "disabled" if disabled else "enabled"
    previous = {}
    for name, value in changes.items():
        if getattr(endpoint, name) != value:
            previous[name.rstrip("_")] = getattr(endpoint, name)
            setattr(endpoint, name, value)
    if not previous:
        return []
    endpoint.updated = now
    stopped = stop_deliveries(session, endpoint, now=now, reason="Endpoint disabled") \
        if endpoint.status == "disabled" else 0
    raise_event(session, "webhook_endpoint.updated", now=now, actor=actor,
                object_id=endpoint.id,
                data={"changed": sorted(previous), "previous_attributes": previous,
                      "deliveries_stopped": stopped})
    session.flush()
    return sorted(previous)


def delete_endpoint(session: Session, endpoint: WebhookEndpoint, *, now: datetime,
                    actor: str) -> None:
    """Delete the endpoint for good, with its attempt log; its pending deliveries stop."""
    stopped = stop_deliveries(session, endpoint, now=now, reason="Endpoint deleted")
    raise_event(session, "webhook_endpoint.deleted", now=now, actor=actor,
                object_id=endpoint.id, data={"url": endpoint.url,
                                             "deliveries_stopped": stopped})
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id)
                    .execution_options(synchronize_session=False))
    session.delete(endpoint)
    session.flush()


def stop_deliveries(session: Session, endpoint: WebhookEndpoint, *, now: datetime,
                    reason: str) -> int:
    """Give up on the endpoint's deliveries still waiting; how many there were. One being
    sent now finishes, but is not retried."""
    return session.execute(
        update(OutboxMessage)
        .where(unfinished(OutboxMessage, "webhook"),
               OutboxMessage.payload["endpoint_id"].as_string() == endpoint.id)
        .values(failed_at=now, last_error=reason)
        .execution_options(synchronize_session=False)).rowcount


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    """Every endpoint, newest first (Stripe's list order)."""
    return list(session.scalars(select(WebhookEndpoint)
                                .order_by(WebhookEndpoint.created.desc(),
                                          WebhookEndpoint.id.desc())))


def reveal_secret(session: Session, endpoint: WebhookEndpoint, *, now: datetime,
                  actor: str) -> str:
    """The endpoint's signing secret in clear, for staff who asked; the audit log says who."""
    secret = unseal_secret(endpoint.secret_sealed)
    raise_event(session, "webhook_endpoint.secret_revealed", now=now, actor=actor,
                object_id=endpoint.id)
    return secret


def resend(session: Session, endpoint: WebhookEndpoint, event: Event, now: datetime,
           actor: str) -> OutboxMessage:
    """Queue a fresh delivery of ``event`` to ``endpoint`` now (retried, like any delivery,
    for the retry window from now). The endpoint must be enabled; it need not have asked for
    the type when the event happened (Stripe's resend allows that too)."""
    if endpoint.status != "enabled":
        raise WebhookRefused("Enable the endpoint before resending an event to it")
    message = OutboxMessage(kind="webhook", created=now, available_at=now,
                            payload={**delivery_payload(endpoint.id, event.id,
                                                        give_up_at=now + retry_window()),
                                     "resent_by": actor})
    session.add(message)
    session.flush()
    raise_event(session, "webhook_endpoint.event_resent", now=now, actor=actor,
                object_id=endpoint.id, data={"event_id": event.id, "event_type": event.type,
                                             "delivery_id": message.id,
                                             "wanted": wants(endpoint.enabled_events,
                                                             event.type)})
    return message
