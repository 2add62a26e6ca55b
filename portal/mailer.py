"""Sending email: SMTP through Flask-Mail in production, console and mailbox in development."""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime

from flask import current_app, render_template
from flask_mail import Connection, Message
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.dbtypes import UTCDateTime, utcnow
from portal.extensions import db

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


def render_email(template: str, **context) -> tuple[str, str]:
    """``emails/<template>.txt`` and ``.html``, rendered with ``context`` (and the branding)."""
    return (render_template(f"emails/{template}.txt", **context),
            render_template(f"emails/{template}.html", **context))


def render_subject(subject: str, locale: str | None = None) -> str:
    """The subject as ``templates/texts.html`` rewords it: queued in the portal's words, it is
    reworded when sent, like the body is rendered then."""
    from portal.designer.texts import customer_text

    return customer_text(subject, locale=locale)


def send_templated(to: str, subject: str, template: str, **context) -> None:
    """Render ``emails/<template>.txt`` and ``.html`` and send them as one message."""
    text, html = render_email(template, **context)
    send(to, render_subject(subject), text, html)


def build_message(to: str, subject: str, text: str, html: str | None = None, *,
                  message_id: str | None = None) -> Message:
    """The message as SMTP would carry it; ``message_id`` fixes its Message-ID header."""
    message = Message(subject=subject, recipients=[to], body=text, html=html)
    if message_id:
        message.msgId = message_id
    return message


def send(to: str, subject: str, text: str, html: str | None = None, *,
         message_id: str | None = None) -> None:
    """Send one message by the configured backend."""
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "console":
        # Development: print it and keep it for the mailbox page, so a newcomer can read a code.
        print(f"\n--- email to {to}: {subject}\n{text}\n--- end of email\n", flush=True)
        db.session.add(DevMail(recipients=to, subject=subject, body_text=text, body_html=html))
        db.session.commit()
        return
    message = build_message(to, subject, text, html, message_id=message_id)
    with _TimedConnection(current_app.extensions["mail"]) as connection:
        connection.send(message)
    log.info("mail sent to=%s subject=%r", to, subject)


class _TimedConnection(Connection):
    """Flask-Mail's connection with a socket timeout (it has none), so a mail server that
    stops answering fails the send instead of holding it for ever."""

    def configure_host(self):
        state = self.mail
        timeout = float(current_app.config["MAIL_TIMEOUT_SECONDS"])
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=timeout)
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=timeout)
        host.set_debuglevel(int(state.debug))
        if state.use_tls:
            host.starttls()
        if state.username and state.password:
            host.login(state.username, state.password)
        return host
