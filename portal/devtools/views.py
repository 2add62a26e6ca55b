"""The development mailbox: read what the app would have emailed. Not registered in production."""

from flask import Blueprint, abort, render_template
from sqlalchemy import select

from portal.extensions import db
from portal.mailer import DevMail

bp = Blueprint("devtools", __name__, url_prefix="/dev")


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
