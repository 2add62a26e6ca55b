"""Fixtures for the outbox and worker tests: a test email, SMTP servers that misbehave on
cue, and ``flask --app portal worker`` run as a real process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.outbox.models import OutboxMessage
from tests.conftest import TEST_SECRET, SMTPRecorder

ROOT = Path(__file__).resolve().parents[2]

TEXT_TEMPLATE = "{{ branding.business_name }}\nHello {{ name }}, your code is {{ code }}.\n"
HTML_TEMPLATE = "<p>Hello {{ name }}, your code is <strong>{{ code }}</strong>.</p>\n"


@pytest.fixture
def test_email(app) -> str:
    """A template pair for these tests only, where designers put overrides."""
    folder = Path(app.instance_path) / "templates" / "emails"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "outbox_test.txt").write_text(TEXT_TEMPLATE)
    (folder / "outbox_test.html").write_text(HTML_TEMPLATE)
    return "outbox_test"


@pytest.fixture
def enqueue(session, now, test_email):
    """``enqueue(to=..., commit=True, **enqueue_email options)``: one test email."""
    from portal.outbox.operations import enqueue_email

    def add(to="jenny.rosen@example.com", *, commit=True, name="Jenny", when=None, **options):
        options.setdefault("secret_context", {"code": "424242"})
        message = enqueue_email(session, to=to, subject="Your code", template=test_email,
                                context={"name": name}, now=when or now, **options)
        if commit:
            session.commit()
        return message

    return add


def rows(session) -> list[OutboxMessage]:
    """Every outbox row as the database has it now, oldest first."""
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.created,
                                                               OutboxMessage.id)))


def message_ids(messages: list[Message]) -> list[str]:
    return [message["Message-ID"] for message in messages]


def wait_for(predicate, timeout: float = 30.0, what: str = "the condition"):
    """Poll until ``predicate()`` is true; fails after ``timeout`` seconds (a deadline for a
    stuck test, not a speed check)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


# ---- SMTP servers ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ControlledRecorder(SMTPRecorder):
    """A real SMTP server that can take its time, refuse, or hold the n-th message's DATA
    (``hold_at``, counted from 1) until ``release`` is set: while it holds, the sender waits
    for the server's answer. ``record_held`` says whether the held message counts as received
    (the server took it and the answer got lost) or not (it never got that far)."""

    delay: float = 0.0
    reply: str = "250 Message accepted for delivery"
    replies: list[str] = field(default_factory=list)  # answers for the next messages, in turn
    hold_at: int | None = None
    record_held: bool = False
    data_count: int = 0
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_count += 1
            number = self.data_count
        if self.delay:
            await asyncio.sleep(self.delay)
        if number == self.hold_at:
            if self.record_held:
                await super().handle_DATA(server, session, envelope)
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "451 Try again later" if not self.record_held else self.reply
        with self.lock:
            reply = self.replies.pop(0) if self.replies else self.reply
        if not reply.startswith("250"):
            return reply
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def controlled_smtp():
    """A ControlledRecorder serving on a free loopback port."""
    from aiosmtpd.controller import Controller

    recorder = ControlledRecorder("127.0.0.1", free_port())
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    controller.start()
    yield recorder
    recorder.release.set()
    controller.stop()


def smtp_settings(server) -> dict:
    return {"MAIL_BACKEND": "smtp", "MAIL_SERVER": server.host, "MAIL_PORT": server.port,
            "MAIL_DEFAULT_SENDER": "billing@acme.example"}


# ---- flask --app portal worker, as a process ------------------------------------------------

class WorkerProcess:
    """``flask --app portal worker`` with the test app's database and settings."""

    def __init__(self, env: dict):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "portal", "worker"], cwd=ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("portal worker:"):
                self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 30.0) -> WorkerProcess:
        if not self.ready.wait(timeout):
            self.stop()
            pytest.fail("the worker did not start:\n" + self.output)
        return self

    def wait(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; SIGKILL if it does not go."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def worker_env(app, database_uri, tmp_path):
    """``worker_env(**settings)``: the environment for a worker process on the test's
    database: this machine's PORTAL_* settings out, the test app's own in."""
    def build(**settings) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.update(PORTAL_INSTANCE_PATH=str(tmp_path / "worker-instance"),
                   PORTAL_SQLALCHEMY_DATABASE_URI=database_uri, PORTAL_SECRET_KEY=TEST_SECRET,
                   PORTAL_WORKER_MODE="external", PORTAL_OUTBOX_POLL_SECONDS="0.2",
                   PYTHONUNBUFFERED="1")
        for name, value in settings.items():
            env[f"PORTAL_{name}"] = str(value)
        # The test email lives in the test app's instance folder: share it.
        templates = Path(app.instance_path) / "templates"
        if templates.is_dir():
            target = Path(env["PORTAL_INSTANCE_PATH"]) / "templates"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(templates)
        return env

    return build


@pytest.fixture
def start_worker(worker_env):
    """``start_worker(**settings)``: a running worker process; all are killed afterwards."""
    started: list[WorkerProcess] = []

    def start(**settings) -> WorkerProcess:
        worker = WorkerProcess(worker_env(**settings))
        started.append(worker)
        return worker.wait_ready()

    yield start
    for worker in started:
        worker.stop()
