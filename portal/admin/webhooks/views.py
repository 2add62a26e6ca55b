"""Dashboard views: webhook endpoints (Developers > Webhooks), their recent deliveries with
every attempt, and a Resend button.

Thin: each view reads its form, calls one operation in portal/webhooks/operations.py with the
signed-in staff member as the actor, and commits. A signing secret is shown only in the
answer to the post that created the endpoint or asked to reveal it (never in a flash: the
session cookie is signed, not encrypted), and that answer is not stored by the browser.
"""

from __future__ import annotations

from flask import abort, flash, url_for
from sqlalchemy import select

from portal.admin.auth import admin_blueprint, current_staff
from portal.admin.operations import staff_actor
from portal.admin.webhooks.forms import EndpointForm, grouped_event_types
from portal.dbtypes import utcnow
from portal.extensions import db
from portal.outbox.models import OutboxMessage
from portal.rendering import render_page, see_other
from portal.webhooks import operations as ops
from portal.webhooks.models import Event, WebhookAttempt, WebhookEndpoint

bp = admin_blueprint("admin_webhooks", __name__, url_prefix="/admin/developers/webhooks")

LIST_PAGE = "admin/webhooks/list.html"
FORM_PAGE = "admin/webhooks/form.html"
ENDPOINT_PAGE = "admin/webhooks/endpoint.html"
DELETE_PAGE = "admin/webhooks/delete.html"
RECENT_DELIVERIES = 50


def _actor() -> str:
    return staff_actor(current_staff())


def _endpoint(endpoint_id: str) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


def _no_store(response):
    """An answer with a secret in it: not kept by the browser or any cache."""
    response.headers["Cache-Control"] = "no-store, private"
    return response


def _render(template: str, *, status: int = 200, **context):
    return render_page(template, status=status, event_groups=grouped_event_types(), **context)


def deliveries_of(endpoint: WebhookEndpoint, limit: int = RECENT_DELIVERIES) -> list[dict]:
    """The endpoint's latest deliveries, newest first, each with its event and attempts:
    three queries whatever the count."""
    rows = list(db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == "webhook",
               OutboxMessage.payload["endpoint_id"].as_string() == endpoint.id)
        .order_by(OutboxMessage.created.desc(), OutboxMessage.id.desc()).limit(limit)))
    event_ids = {row.payload.get("event_id") for row in rows}
    events = {event.id: event for event in db.session.scalars(
        select(Event).where(Event.id.in_(event_ids)))} if rows else {}
    attempts: dict[str, list[WebhookAttempt]] = {}
    if rows:
        for attempt in db.session.scalars(
                select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_([r.id for r in rows]))
                .order_by(WebhookAttempt.attempt)):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return [{"row": row, "event": events.get(row.payload.get("event_id")),
             "attempts": attempts.get(row.id, []), "status": delivery_status(row),
             "resent": bool(row.payload.get("resent_by"))} for row in rows]


def delivery_status(row: OutboxMessage) -> str:
    if row.sent_at is not None:
        return "Delivered"
    if row.failed_at is not None:
        return "Failed"
    return "Retrying" if row.attempts else "Pending"


def _endpoint_page(endpoint: WebhookEndpoint, *, secret: str | None = None, created=False,
                   status: int = 200):
    return _render(ENDPOINT_PAGE, status=status, endpoint=endpoint,
                   deliveries=deliveries_of(endpoint), secret=secret, created=created)


@bp.get("/")
def endpoint_list():
    """Every endpoint, newest first."""
    return _render(LIST_PAGE, endpoints=ops.list_endpoints(db.session))


@bp.get("/new")
def new_endpoint():
    return _render(FORM_PAGE, form=EndpointForm(formdata=None, data={"enabled": True}),
                   endpoint=None)


@bp.post("/new")
def create_endpoint():
    """Add an endpoint; the answer shows its signing secret, once."""
    form = EndpointForm()
    if form.validate():
        try:
            endpoint, secret = ops.create_endpoint(
                db.session, **form.changes, disabled=not form.enabled.data, now=utcnow(),
                actor=_actor())
        except ops.WebhookRefused as refused:
            db.session.rollback()
            _refused_on(form, refused)
        else:
            db.session.commit()
            return _no_store(_endpoint_page(endpoint, secret=secret, created=True, status=201))
    return _render(FORM_PAGE, form=form, endpoint=None, status=422)


@bp.get("/<endpoint_id>")
def endpoint_page(endpoint_id: str):
    return _endpoint_page(_endpoint(endpoint_id))


@bp.post("/<endpoint_id>/reveal")
def reveal_secret(endpoint_id: str):
    """The signing secret, for staff who asked (the audit log says who)."""
    endpoint = _endpoint(endpoint_id)
    secret = ops.reveal_secret(db.session, endpoint, now=utcnow(), actor=_actor())
    db.session.commit()
    return _no_store(_endpoint_page(endpoint, secret=secret))


@bp.get("/<endpoint_id>/edit")
def edit_endpoint(endpoint_id: str):
    endpoint = _endpoint(endpoint_id)
    return _render(FORM_PAGE, form=EndpointForm.for_endpoint(endpoint), endpoint=endpoint)


@bp.post("/<endpoint_id>/edit")
def update_endpoint(endpoint_id: str):
    endpoint = _endpoint(endpoint_id)
    form = EndpointForm()
    if form.validate():
        try:
            changed = ops.update_endpoint(db.session, endpoint, **form.changes,
                                          disabled=not form.enabled.data, now=utcnow(),
                                          actor=_actor())
        except ops.WebhookRefused as refused:
            db.session.rollback()
            _refused_on(form, refused)
        else:
            db.session.commit()
            flash("The endpoint is saved." if changed else "Nothing changed.", "success")
            return _see_endpoint(endpoint.id)
    return _render(FORM_PAGE, form=form, endpoint=endpoint, status=422)


@bp.get("/<endpoint_id>/delete")
def confirm_delete(endpoint_id: str):
    return _render(DELETE_PAGE, endpoint=_endpoint(endpoint_id))


@bp.post("/<endpoint_id>/delete")
def delete_endpoint(endpoint_id: str):
    endpoint = _endpoint(endpoint_id)
    url = endpoint.url
    ops.delete_endpoint(db.session, endpoint, now=utcnow(), actor=_actor())
    db.session.commit()
    flash(f"The endpoint {url} is deleted. Nothing more is sent to it.", "success")
    return see_other(url_for("admin_webhooks.endpoint_list"))


@bp.post("/<endpoint_id>/deliveries/<delivery_id>/resend")
def resend(endpoint_id: str, delivery_id: str):
    """Send a delivery's event to the endpoint again, now."""
    endpoint = _endpoint(endpoint_id)
    row = db.session.get(OutboxMessage, delivery_id)
    if (row is None or row.kind != "webhook"
            or (row.payload or {}).get("endpoint_id") != endpoint.id):
        abort(404)  # another endpoint's delivery, exactly like a made-up one
    event = db.session.get(Event, row.payload.get("event_id"))
    if event is None:
        abort(404)
    try:
        ops.resend(db.session, endpoint, event, utcnow(), _actor())
    except ops.WebhookRefused as refused:
        db.session.rollback()
        flash(refused.message, "error")
    else:
        db.session.commit()
        flash(f"{event.type} {event.id} is queued to be sent again.", "success")
    return _see_endpoint(endpoint.id)


def _see_endpoint(endpoint_id: str):
    return see_other(url_for("admin_webhooks.endpoint_page", endpoint_id=endpoint_id))


def _refused_on(form: EndpointForm, refused: ops.WebhookRefused) -> None:
    field = getattr(form, refused.param or "", None)
    if field is None:
        form.form_errors.append(refused.message)
    else:
        field.errors = [*field.errors, refused.message]
