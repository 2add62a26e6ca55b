"""Servers for the fault tests to break, each started on a free loopback port and cleaned
up: a private redis-server, a private PostgreSQL cluster, and an SMTP server that holds every
conversation until it is let go. Not a test module: the portal's own processes and the
browser are in servers.py, the fixtures that start these in conftest.py.

None of these ever touches the shared PostgreSQL on 5432 or the Redis on 6379: the fault
tests stop and start only servers they started themselves.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest

from tests.outbox.conftest import free_port, wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def report(injected: str, counted: str) -> str:
    """Print (and return) the line every fault test ends with: what it injected, what it
    counted afterwards."""
    line = f"injected: {injected}; counted: {counted}"
    print(line)
    return line


# ---- SMTP that takes its time --------------------------------------------------------------------

@dataclass
class GatedSMTP:
    """A real SMTP server (aiosmtpd) that answers no DATA while its gate is closed: each
    conversation waits for the gate, and after ``give_up_after`` seconds is answered 451
    without keeping the message (the server's own timeout, long after the sender's). With
    the gate open it accepts and records. ``timeline`` holds ("accepted", Message-ID) in
    order, beside whatever the test appends, so a test asserts what happened first."""

    port: int
    host: str = "127.0.0.1"
    give_up_after: float = 3.0
    gate: threading.Event = field(default_factory=threading.Event)
    conversations: int = 0
    messages: list[Message] = field(default_factory=list)
    timeline: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: object = None

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook
        with self.lock:
            self.conversations += 1
        waited = 0.0
        while not self.gate.is_set():
            if waited >= self.give_up_after:
                return "451 Try again later"
            await asyncio.sleep(0.02)
            waited += 0.02
        message = message_from_bytes(envelope.original_content)
        with self.lock:
            self.messages.append(message)
            self.timeline.append(("accepted", message["Message-ID"]))
        return "250 Message accepted for delivery"

    def note(self, what: str) -> None:
        """Put the test's own moment in the timeline."""
        with self.lock:
            self.timeline.append((what, ""))

    def start(self) -> GatedSMTP:
        """Listen on the port (again)."""
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused from now on."""
        if self._controller is not None:
            self.gate.set()
            self._controller.stop()
            self._controller = None

    def settings(self) -> dict:
        return {"MAIL_BACKEND": "smtp", "MAIL_SERVER": self.host, "MAIL_PORT": str(self.port),
                "MAIL_DEFAULT_SENDER": "billing@acme.example"}


# ---- a private Redis ---------------------------------------------------------------------------

class RedisServer:
    """``redis-server`` on a free port, without persistence, that a test stops and starts
    again (coming back empty, as a Redis without persistence does after a crash)."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self) -> RedisServer:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from redis import Redis
        from redis.exceptions import RedisError

        client = Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except RedisError:
                return False

        wait_for(answers, what=f"redis-server on port {self.port}")
        client.close()
        return self

    def stop(self) -> None:
        """SIGKILL: Redis is gone at once, mid-whatever."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


# ---- a private PostgreSQL cluster -------------------------------------------------------------

class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb into a temporary folder owned by postgres,
    fsync off for speed) on a free port, with its socket in that folder. Run as the postgres
    user when this process is root (initdb refuses root)."""

    def __init__(self):
        if not (PG_BIN / "initdb").exists():
            pytest.skip(f"PostgreSQL server binaries are not in {PG_BIN}")
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="portal-fault-pg-"))
        self.data = self.folder / "data"
        self.logfile = self.folder / "server.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            if shutil.which("runuser") is None:
                pytest.skip("running as root without runuser: cannot run initdb as postgres")
            shutil.chown(self.folder, "postgres", "postgres")
        self.folder.chmod(0o700)

    @property
    def user(self) -> str:
        return "postgres" if self._as_postgres else os.environ.get("USER", "postgres")

    def uri(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True,
                                timeout=timeout, cwd=self.folder)
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"
                                 f"\n{self.server_log()}")
        return result

    def server_log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-4000:]
        except (FileNotFoundError, PermissionError):
            return ""

    def init(self) -> PostgresCluster:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.user,
                  "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
        return self

    def _options(self) -> str:
        return (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=50")

    def start(self) -> PostgresCluster:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
                  "-o", self._options(), "-w", "-t", "60", "start")
        return self

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, transactions in flight roll
        back, and the server comes back."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
                  "-o", self._options(), "-m", "fast", "-w", "-t", "60", "restart")

    def createdb(self, name: str) -> str:
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", self.user, name)
        return self.uri(name)

    def destroy(self) -> None:
        """Stop the server (immediate: nothing to keep) and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop", timeout=30)
            except (AssertionError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


def kill(process: subprocess.Popen) -> int:
    """SIGKILL ``process`` and reap it; its exit status."""
    process.send_signal(signal.SIGKILL)
    return process.wait(30)
