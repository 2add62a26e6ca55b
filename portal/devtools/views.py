"""The development mailbox: read what the app would have emailed. Not registered in production,
and even in development it answers only to this machine."""

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select

from portal.extensions import db
from portal.mailer import DevMail

bp = Blueprint("devtools", __name__, url_prefix="/dev")


@bp.before_request
def only_from_this_machine():
    """404 unless the connection is from loopback: a server started without PORTAL_ENV must
    not show the passcodes it emailed to the network."""
    from portal.proxy import is_loopback_peer

    if not is_loopback_peer(request.environ):
        abort(404)


@bp.get("/mailbox")
def mailbox():
    """List the newest development emails."""
    messages = db.session.scalars(select(DevMail).order_by(DevMail.id.desc()).limit(50)).all()
    return render_template("devtools/mailbox.html", messages=messages)


@bp.get("/mailbox/<int:message_id>")
def show_message(message_id: int):
    """Show one development email as plain text."""
    message = db.session.get(DevMail, message_id) or abort(404)
    return render_template("devtools/message.html", message=message)
