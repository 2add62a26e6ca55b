"""Dashboard home (the business's numbers over 12 months, the latest events) and the audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from flask import request
from flask_babel import get_timezone

from portal.admin.auth import admin_blueprint
from portal.admin.dashboard import presenting
from portal.admin.dashboard.forms import AuditFilterForm
from portal.dbtypes import utcnow
from portal.extensions import db
from portal.rendering import render_page
from portal.reporting import audit
from portal.reporting.metrics import monthly_metrics

bp = admin_blueprint("admin_dashboard", __name__, url_prefix="/admin")

FILTER_NAMES = ("event_type", "who", "customer", "from_date", "to_date")


@bp.context_processor
def dashboard_helpers():
    """Currency names, for the dashboard's templates."""
    return {"currency_name": presenting.currency_name,
            "timezone_name": str(get_timezone() or "UTC")}


@bp.get("/")
def home():
    """The numbers of the last 12 months per currency, as charts and tables, and the latest
    events."""
    now = utcnow()
    metrics = monthly_metrics(db.session, now=now)
    sections = [(series, presenting.currency_charts(series)) for series in metrics.currencies]
    rows = presenting.event_rows(db.session, audit.recent_events(db.session))
    return render_page("admin/dashboard/home.html", metrics=metrics, sections=sections,
                       rows=rows, section="dashboard")


def _start_of_day(day: date) -> datetime:
    """Midnight of ``day`` where the dashboard shows its times, as UTC."""
    zone = get_timezone() or UTC
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


@bp.get("/audit-log")
def audit_log():
    """Every event, newest first, 50 to a page, narrowed by type, actor, customer and dates."""
    form = AuditFilterForm(formdata=request.args)
    form.event_type.choices = presenting.type_choices(db.session)
    kept = {name: request.args[name] for name in FILTER_NAMES
            if isinstance(request.args.get(name), str) and request.args[name].strip()}
    if not form.validate():
        return render_page("admin/dashboard/audit_log.html", "admin/dashboard/_audit_log.html",
                           status=422, form=form, log=None, rows=[], kept=kept,
                           section="dashboard")
    log = audit.audit_page(db.session, form.filters(start_of_day=_start_of_day),
                            after=request.args.get("after", type=str),
                            before=request.args.get("before", type=str))
    return render_page("admin/dashboard/audit_log.html", "admin/dashboard/_audit_log.html",
                       form=form, log=log, rows=presenting.event_rows(db.session, log.events),
                       kept=kept, section="dashboard")
