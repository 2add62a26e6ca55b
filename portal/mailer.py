"""Sending email: SMTP through Flask-Mail in production, console and mailbox in development."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app, render_template
from flask_mail import Message
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.dbtypes import UTCDateTime, utcnow
from portal.extensions import db, mail

log = logging.getLogger("portal.mail")


class DevMail(db.Model):
    """Mail kept for the development mailbox page; never written in production."""

    __tablename__ = "dev_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    recipients: Mapped[str] = mapped_column(String(1000))
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)


def send_templated(to: str, subject: str, template: str, **context) -> None:
    """Render ``emails/<template>.txt`` and ``.html`` and send them as one message."""
    text = render_template(f"emails/{template}.txt", **context)
    html = render_template(f"emails/{template}.html", **context)
    send(to, subject, text, html)


def send(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one message by the configured backend."""
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "console":
        # Development: print it and keep it for the mailbox page, so a newcomer can read a code.
        print(f"\n--- email to {to}: {subject}\n{text}\n--- end of email\n", flush=True)
        db.session.add(DevMail(recipients=to, subject=subject, body_text=text, body_html=html))
        db.session.commit()
        return
    message = Message(subject=subject, recipients=[to], body=text, html=html)
    mail.send(message)
    log.info("mail sent to=%s subject=%r", to, subject)
