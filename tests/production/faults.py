"""Real servers for the fault tests, each started on a free loopback port and cleaned up:
the portal under gunicorn, a private redis-server, a private PostgreSQL cluster, an SMTP
server that holds every conversation until it is let go, and a browser-like client that
signs in through the login pages with their CSRF tokens. Not a test module.

None of these ever touches the shared PostgreSQL on 5432 or the Redis on 6379: the fault
tests stop and start only servers they started themselves.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup

from tests.conftest import TEST_SECRET
from tests.outbox.conftest import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
CODE_IN_EMAIL = re.compile(r"^\s*(\d{6})\s*$", re.MULTILINE)


def report(injected: str, counted: str) -> str:
    """Print (and return) the line every fault test ends with: what it injected, what it
    counted afterwards."""
    line = f"injected: {injected}; counted: {counted}"
    print(line)
    return line


def clean_env(**settings) -> dict:
    """This process's environment without any PORTAL_* setting, plus ``settings`` as
    PORTAL_<name>; the checkout first on PYTHONPATH, so subprocesses import this code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    env["PORTAL_SECRET_KEY"] = TEST_SECRET
    # Static files read as they are: no Brotli copies built at each start (seconds of CPU).
    env["PORTAL_STATIC_AUTOREFRESH"] = "true"
    for name, value in settings.items():
        env[f"PORTAL_{name}"] = value if isinstance(value, str) else _json(value)
    return env


def _json(value) -> str:
    import json

    return json.dumps(value)


def children_of(pid: int) -> list[int]:
    """The direct children of ``pid`` (gunicorn's workers), from /proc."""
    try:
        return sorted(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except FileNotFoundError:
        return []


# ---- the portal under gunicorn ----------------------------------------------------------------

class Gunicorn:
    """``gunicorn wsgi:app`` from the checkout on a free port, with ``env``; its output goes
    to a file, shown when it fails to start."""

    def __init__(self, env: dict, log: Path, *, workers: int = 2, threads: int = 4):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.workers = workers
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads",
                 str(threads), "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "5",
                 "--timeout", "60", "wsgi:app"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> Gunicorn:
        """Until every worker is up and the signed-out page answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.output}")
            try:
                if (httpx.get(self.url + "/p/signed-out", timeout=5).status_code == 200
                        and len(self.worker_pids()) == self.workers):
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("gunicorn did not start:\n" + self.output)
            time.sleep(0.1)

    def worker_pids(self) -> list[int]:
        """gunicorn's worker processes now."""
        return children_of(self.process.pid)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; SIGKILL if it does not go."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def start_gunicorn(tmp_path):
    """``start_gunicorn(env, workers=2, threads=4)``: a running portal; all are stopped
    afterwards."""
    started: list[Gunicorn] = []

    def start(env: dict, **options) -> Gunicorn:
        server = Gunicorn(env, tmp_path / f"gunicorn-{len(started)}.log", **options)
        started.append(server)
        return server.wait_ready()

    yield start
    for server in started:
        server.stop()


# ---- a customer's browser -----------------------------------------------------------------------

class Browser:
    """An HTTP client with a cookie jar that fills in forms as a browser would (the CSRF
    token from the page), never following redirects by itself."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.client = httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def submit(self, page_path: str, action: str, data: dict) -> httpx.Response:
        """GET ``page_path``, take the CSRF token of its form posting to ``action``, and POST
        ``data`` with it."""
        page = self.client.get(page_path)
        assert page.status_code == 200, (page_path, page.status_code, page.text[:500])
        return self.post(action, data, token=form_token(page.text, action))

    def submit_form(self, page_path: str, action: str, **changes) -> httpx.Response:
        """GET ``page_path`` and POST its form to ``action`` as it is filled in (hidden
        fields, the checked or first radio button), with ``changes`` typed over it."""
        page = self.client.get(page_path)
        assert page.status_code == 200, (page_path, page.status_code, page.text[:500])
        return self.client.post(action, data={**form_fields(page.text, action), **changes})

    def post(self, action: str, data: dict, *, token: str | None) -> httpx.Response:
        return self.client.post(action, data={**data, **({"csrf_token": token} if token else {})})

    def request_code(self, link_id: str, email: str) -> httpx.Response:
        """Ask for a passcode on the login link; the code page as the browser lands on it."""
        path = f"/p/login/{link_id}"
        answer = self.submit(path, path, {"email": email})
        assert answer.status_code == 303, (answer.status_code, answer.text[:500])
        return self.client.get(answer.headers["Location"])

    def enter_code(self, link_id: str, code: str) -> httpx.Response:
        """Type the passcode; the answer (a 303 to the overview when it was right)."""
        path = f"/p/login/{link_id}/code"
        return self.submit(path, path, {"code": code})


def form_token(html: str, action: str | None = None) -> str | None:
    """The csrf_token of the form posting to ``action`` (or of the first form)."""
    soup = BeautifulSoup(html, "html.parser")
    forms = soup.find_all("form")
    for form in forms:
        if action is None or (form.get("action") or "").split("?")[0] == action:
            field_ = form.find("input", attrs={"name": "csrf_token"})
            return field_["value"] if field_ else None
    return None


def form_fields(html: str, action: str) -> dict:
    """What a browser would send for the form posting to ``action``, untouched."""
    soup = BeautifulSoup(html, "html.parser")
    for form in soup.find_all("form"):
        if (form.get("action") or "").split("?")[0] != action:
            continue
        data: dict = {}
        for item in form.find_all(["input", "textarea", "select"]):
            name = item.get("name")
            if not name:
                continue
            if item.get("type") in ("radio", "checkbox"):
                if item.has_attr("checked") or (item.get("type") == "radio" and name not in data):
                    data[name] = item.get("value", "on")
            elif item.name == "select":
                chosen = item.find("option", selected=True) or item.find("option")
                data[name] = chosen.get("value", "") if chosen else ""
            else:
                data[name] = item.get("value", "") if item.name == "input" else item.text
        return data
    raise AssertionError(f"no form posts to {action}")


def passcode_in(message: Message) -> str:
    """The six-digit code of a passcode email (its text part)."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
            match = CODE_IN_EMAIL.search(body)
            if match:
                return match.group(1)
    raise AssertionError("no passcode in the email")


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


@pytest.fixture
def gated_smtp():
    """A GatedSMTP on a free port, not started: the test starts it when SMTP is to be up."""
    server = GatedSMTP(port=free_port())
    yield server
    server.stop()


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


@pytest.fixture
def private_redis(tmp_path):
    """A RedisServer of this test's own, running; killed afterwards."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


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


@pytest.fixture
def private_postgresql():
    """A PostgresCluster of this test's own, started; stopped and deleted afterwards."""
    cluster = PostgresCluster()
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.destroy()


def kill(process: subprocess.Popen) -> int:
    """SIGKILL ``process`` and reap it; its exit status."""
    process.send_signal(signal.SIGKILL)
    return process.wait(30)
