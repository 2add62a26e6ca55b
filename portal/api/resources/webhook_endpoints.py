"""/v1/webhook_endpoints and /v1/events: where the portal tells the merchant's systems what
changed, and the events themselves."""

from __future__ import annotations

from sqlalchemy import select

from portal.api.errors import ApiError, not_found
from portal.api.lists import paginate
from portal.api.params import (
    LIST_PARAMS,
    UNSET,
    Boolean,
    List,
    Metadata,
    Object,
    String,
    Timestamp,
    merged_metadata,
)
from portal.api.routing import ApiCall, endpoint
from portal.objects.common import livemode, ts
from portal.webhooks import operations as ops
from portal.webhooks.models import Event, WebhookEndpoint
from portal.webhooks.types import ALL_EVENTS, WEBHOOK_EVENT_TYPES

OBJECT = "webhook_endpoint"
_EVENTS = List(item=String(enum=(ALL_EVENTS, *WEBHOOK_EVENT_TYPES)), max_items=100)
CREATE = {
    "url": String(max_length=ops.URL_MAX_LENGTH, required=True),
    "enabled_events": List(item=_EVENTS.item, max_items=100, required=True),
    "description": String(max_length=ops.DESCRIPTION_MAX_LENGTH, nullable=True),
    "metadata": Metadata(),
    "api_version": String(max_length=40),
    "connect": Boolean(description="Refused when true: there are no connected accounts."),
}
UPDATE = {
    "url": String(max_length=ops.URL_MAX_LENGTH),
    "enabled_events": _EVENTS,
    "description": String(max_length=ops.DESCRIPTION_MAX_LENGTH, nullable=True),
    "metadata": Metadata(),
    "disabled": Boolean(),
}
EVENT_LIST = {
    **LIST_PARAMS,
    "type": String(max_length=100, description="One type, or a prefix ending in .* "
                   "(customer.subscription.*)."),
    "types": List(item=String(max_length=100), max_items=20),
    "created": Object(fields={name: Timestamp() for name in ("gt", "gte", "lt", "lte")}),
}


def serialize_endpoint(endpoint: WebhookEndpoint, *, secret: str | None = None) -> dict:
    """Stripe's webhook_endpoint; the secret only in the answer that made it."""
    body = {
        "id": endpoint.id, "object": OBJECT, "api_version": endpoint.api_version,
        "application": None, "created": ts(endpoint.created),
        "description": endpoint.description, "enabled_events": list(endpoint.enabled_events),
        "livemode": livemode(), "metadata": dict(endpoint.metadata_ or {}),
        "status": endpoint.status, "url": endpoint.url,
    }
    if secret is not None:
        body["secret"] = secret
    return body


def _refused(refusal: ops.WebhookRefused) -> ApiError:
    return ApiError(400, refusal.message, code="parameter_invalid", param=refusal.param)


def _find(call: ApiCall, endpoint_id: str) -> WebhookEndpoint:
    found = call.session.get(WebhookEndpoint, endpoint_id)
    if found is None:
        raise not_found(OBJECT, endpoint_id)
    return found


@endpoint("POST", "/webhook_endpoints", params=CREATE, returns=OBJECT,
          summary="Create a webhook endpoint", tag="Webhooks")
def create_webhook_endpoint(call: ApiCall) -> dict:
    """Add an endpoint; its signing secret (whsec_...) is in this answer only."""
    if call.get("connect"):
        raise ApiError(400, "This portal serves one merchant: there are no connected "
                       "accounts to send events from.", param="connect")
    description = call.get("description")
    try:
        made, secret = ops.create_endpoint(
            call.session, url=call["url"], enabled_events=call["enabled_events"],
            description=None if description is UNSET else description,
            metadata=merged_metadata({}, call["metadata"]) if "metadata" in call else None,
            api_version=call.get("api_version"), now=call.now, actor=call.actor)
    except ops.WebhookRefused as refusal:
        raise _refused(refusal) from None
    return serialize_endpoint(made, secret=secret)


@endpoint("GET", "/webhook_endpoints/<endpoint_id>", returns=OBJECT,
          summary="Retrieve a webhook endpoint", tag="Webhooks")
def retrieve_webhook_endpoint(call: ApiCall, endpoint_id: str) -> dict:
    """One endpoint (without its secret)."""
    return serialize_endpoint(_find(call, endpoint_id))


@endpoint("POST", "/webhook_endpoints/<endpoint_id>", params=UPDATE, returns=OBJECT,
          summary="Update a webhook endpoint", tag="Webhooks")
def update_webhook_endpoint(call: ApiCall, endpoint_id: str) -> dict:
    """Change the URL, the events, the description, metadata, or disable it."""
    found = _find(call, endpoint_id)
    changes = {}
    for name in ("url", "enabled_events", "disabled"):
        if name in call:
            changes[name] = call[name]
    if "description" in call:
        changes["description"] = None if call["description"] is UNSET else call["description"]
    if "metadata" in call:
        # The operation merges as Stripe does ("" removes a key); metadata="" removes all.
        given = call["metadata"]
        changes["metadata"] = (dict.fromkeys(found.metadata_ or {}, "") if given is UNSET
                               else given)
    try:
        ops.update_endpoint(call.session, found, now=call.now, actor=call.actor, **changes)
    except ops.WebhookRefused as refusal:
        raise _refused(refusal) from None
    return serialize_endpoint(found)


@endpoint("DELETE", "/webhook_endpoints/<endpoint_id>", returns=OBJECT, deleted=True,
          summary="Delete a webhook endpoint", tag="Webhooks")
def delete_webhook_endpoint(call: ApiCall, endpoint_id: str) -> dict:
    """Delete it; deliveries waiting for it stop."""
    found = _find(call, endpoint_id)
    ops.delete_endpoint(call.session, found, now=call.now, actor=call.actor)
    return {"id": endpoint_id, "object": OBJECT, "deleted": True}


@endpoint("GET", "/webhook_endpoints", params=LIST_PARAMS, returns=f"list:{OBJECT}",
          summary="List webhook endpoints", tag="Webhooks")
def list_webhook_endpoints(call: ApiCall) -> dict:
    """Every endpoint, newest first."""
    return paginate(call, select(WebhookEndpoint), WebhookEndpoint, url="/v1/webhook_endpoints",
                    object_name=OBJECT,
                    serialize_many=lambda rows: [serialize_endpoint(r) for r in rows])


@endpoint("GET", "/events/<event_id>", returns="event", summary="Retrieve an event",
          tag="Webhooks")
def retrieve_event(call: ApiCall, event_id: str) -> dict:
    """One event, as it was delivered."""
    found = call.session.get(Event, event_id)
    if found is None:
        raise not_found("event", event_id)
    return found.body


@endpoint("GET", "/events", params=EVENT_LIST, returns="list:event", summary="List events",
          tag="Webhooks")
def list_events(call: ApiCall) -> dict:
    """Events newest first, by type (or type prefix) and creation time."""
    query = select(Event)
    types = list(call.get("types") or [])
    if "type" in call:
        types.append(call["type"])
    if types:
        from sqlalchemy import or_

        conditions = []
        for kind in types:
            if kind.endswith(".*"):
                conditions.append(Event.type.startswith(kind[:-1], autoescape=True))
            else:
                conditions.append(Event.type == kind)
        query = query.where(or_(*conditions))
    created = call.get("created") or {}
    for name, compare in (("gt", Event.created.__gt__), ("gte", Event.created.__ge__),
                          ("lt", Event.created.__lt__), ("lte", Event.created.__le__)):
        if name in created:
            query = query.where(compare(created[name]))
    return paginate(call, query, Event, url="/v1/events", object_name="event",
                    serialize_many=lambda rows: [row.body for row in rows])
