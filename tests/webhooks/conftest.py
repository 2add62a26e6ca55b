"""Fixtures for the webhook tests: a real HTTP receiver on loopback and endpoints."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from portal.outbox.models import OutboxMessage
from portal.webhooks import operations as ops


@pytest.fixture
def app_config() -> dict:
    # Only the test delivers, on its clock (a module overrides this to test a worker mode).
    return {"WORKER_MODE": "external"}


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


@dataclass
class Receiver:
    """Records every POST; answers ``replies`` in turn (then ``status``), after ``delay``
    seconds, or with a redirect when the status is 3xx."""

    url: str = ""
    status: int = 200
    replies: list[int] = field(default_factory=list)
    delay: float = 0.0
    body: bytes = b'{"received": true}'
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.replies.pop(0) if self.replies else self.status


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
            if state.delay:
                time.sleep(state.delay)
            status = state.next_status()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", state.url + "/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            try:
                self.wfile.write(state.body)
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_endpoint(session, now, receiver):
    """``make_endpoint(enabled_events=["*"], path="/hooks", **options) -> (endpoint, secret)``,
    committed."""
    def make(enabled_events=("*",), path="/hooks", **options):
        endpoint, secret = ops.create_endpoint(
            session, url=receiver.url + path, enabled_events=list(enabled_events), now=now,
            actor="merchant", **options)
        session.commit()
        return endpoint, secret

    return make


def deliveries(session) -> list[OutboxMessage]:
    """Every webhook delivery as the database has it now, oldest first."""
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook")
                                .order_by(OutboxMessage.created, OutboxMessage.id)))
