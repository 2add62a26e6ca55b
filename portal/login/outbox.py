"""Sending passcode emails after the response, off the request's critical path.

Talking to an SMTP server takes long and varies; if the request waited for it, an address that
belongs to a customer (mail sent) would answer measurably slower than one that does not (nothing
sent), which tells an attacker who is a customer. So the view only hands the email to a small
thread pool and answers at once, the same way in both cases; for an unknown address the job
renders the same email and drops it, so even the CPU it takes is the same.

LOGIN_EMAIL_IN_BACKGROUND = False sends inline instead, for servers that run no Python threads
(uWSGI without --enable-threads); the timing difference then returns.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from flask import copy_current_request_context, current_app, render_template
from flask_mail import Message

from portal.extensions import db
from portal.mailer import send_templated
from portal.portal_settings.operations import get_branding

log = logging.getLogger("portal.login")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_pending: set[Future] = set()
# The newest queued email per recipient. Two threads send, so without this a slow send could be
# overtaken by the next code to the same address, and the newest email in the inbox would hold
# a code that no longer works.
_latest_for: dict[str, Future] = {}


def send_passcode_email(to: str, *, code: str, valid_for: str, deliver: bool) -> None:
    """Queue the passcode email. ``deliver`` is False for an address nobody has: the job then
    renders the same email and throws it away, so the work the app does (and the CPU it takes
    from the next requests) is the same whether or not the address is known."""
    if not current_app.config.get("LOGIN_EMAIL_IN_BACKGROUND", True):
        _send_passcode_email(to, code, valid_for, deliver)
        return

    # Rendered in a copy of this request's context: templates see the same app and locale.
    recipient = to.strip().lower()
    global _executor
    with _lock:
        earlier = _latest_for.get(recipient)

        @copy_current_request_context
        def job():
            if earlier is not None:
                # Submitted before this job, so a worker has already taken it: no deadlock.
                wait([earlier])
            _send_passcode_email(to, code, valid_for, deliver)

        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="login-mail")
        future = _executor.submit(job)
        _pending.add(future)
        _latest_for[recipient] = future
    future.add_done_callback(lambda done: _forget(done, recipient))


def _send_passcode_email(to: str, code: str, valid_for: str, deliver: bool) -> None:
    try:
        # get_branding may create the default row; commit it now, so no write lock is held
        # while the SMTP server takes its time.
        branding = get_branding(db.session)
        db.session.commit()
        subject = f"Your sign-in code for {branding.business_name}"
        if deliver:
            send_templated(to, subject, "login_code", code=code, valid_for=valid_for)
            return
        text = render_template("emails/login_code.txt", code=code, valid_for=valid_for)
        html = render_template("emails/login_code.html", code=code, valid_for=valid_for)
        Message(subject=subject, recipients=[to], body=text, html=html,
                sender=current_app.config.get("MAIL_DEFAULT_SENDER")).as_string()
    except Exception as error:
        db.session.rollback()
        # Name the failure, never the message: its body holds the passcode.
        log.error("sending the login_code email to %s failed: %s", to, type(error).__name__)


def _forget(future: Future, recipient: str) -> None:
    with _lock:
        _pending.discard(future)
        if _latest_for.get(recipient) is future:
            del _latest_for[recipient]


def wait_until_sent(timeout: float = 10.0) -> bool:
    """Wait for queued emails (tests, and a clean shutdown); True when none is left."""
    with _lock:
        pending = list(_pending)
    if not pending:
        return True
    _done, not_done = wait(pending, timeout=timeout)
    return not not_done
