"""Requests sent at the same moment, each from its own thread, test client, app context and
database session, as several tabs, a double click or a script would send them.

Not a test module; the concurrency tests import ``send_together`` from here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bs4 import BeautifulSoup

from portal.customers.auth import SESSION_KEY, open_sign_in_session
from portal.extensions import db
from tests.conftest import HTMX_HEADERS


@dataclass(frozen=True)
class Answer:
    # None when the request raised instead of answering: ``text`` is then the error.
    status: int | None
    text: str

    @property
    def page_text(self) -> str:
        """What a customer reads on the answer, whitespace collapsed."""
        return " ".join(BeautifulSoup(self.text, "html.parser").get_text(" ").split())


def signed_in_token(customer, now) -> str:
    """A sign-in cookie token for ``customer`` that every thread's client can carry."""
    _, token = open_sign_in_session(customer.id, now=now)
    db.session.commit()
    return token


def send_together(app, token: str, posts: list[tuple[str, dict]], *, htmx: bool = True
                  ) -> list[Answer]:
    """POST each (url, form data) from its own thread, all released at once by a barrier;
    the answers come back in the order of ``posts``."""
    answers: list[Answer | None] = [None] * len(posts)
    start = threading.Barrier(len(posts))

    def send(index: int, url: str, data: dict) -> None:
        client = app.test_client()
        try:
            with client.session_transaction() as cookie:
                cookie[SESSION_KEY] = token
                cookie.permanent = True
            start.wait(10)
            response = client.post(url, data=data, headers=HTMX_HEADERS if htmx else {})
            answers[index] = Answer(response.status_code, response.get_data(as_text=True))
        except Exception as error:  # reported, so a crash fails the test with its reason
            answers[index] = Answer(None, repr(error))

    threads = [threading.Thread(target=send, args=(i, url, data))
               for i, (url, data) in enumerate(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a request never finished"
    # Whatever the threads committed, read afresh.
    db.session.expire_all()
    return answers
