"""Real portal processes for the production tests: gunicorn serving ``wsgi:app``, ``flask
--app portal worker``, and a browser-like HTTP client that reaches them as a reverse proxy
would. Not a test module.

    env = portal_env(database_uri, instance, PUBLIC_URL="https://billing.example.test", ...)
    web = Gunicorn(env, log_dir).start()          # on a free loopback port, waits until up
    worker = Worker(env, log_dir).start()         # waits for its "portal worker:" line
    browser = Browser("billing.example.test", client_ip="203.0.113.7")
    browser.get(web, "/p/signed-out")
    web.stop(); worker.stop()                     # SIGTERM, then SIGKILL if they linger
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from email.message import Message
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
from bs4 import BeautifulSoup

from tests.outbox.conftest import free_port, wait_for  # noqa: F401  (also used by importers)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0  # seconds: a deadline for a stuck start, not a speed check


def portal_env(database_uri: str, instance: Path, **settings) -> dict:
    """The environment of a portal process: this machine's PORTAL_* and gunicorn settings out,
    the test database, the instance folder and ``settings`` (as PORTAL_<name>) in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PORTAL_") and k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")}
    env.update(PORTAL_INSTANCE_PATH=str(instance), PORTAL_SQLALCHEMY_DATABASE_URI=database_uri,
               PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    for name, value in settings.items():
        env[f"PORTAL_{name}"] = str(value)
    return env


class _Process:
    """A child process whose output goes to a file (a pipe nobody reads would block it)."""

    name = "process"

    def __init__(self, command: list[str], env: dict, log_dir: Path):
        self.command, self.env = command, env
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / f"{self.name}-{os.getpid()}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen | None = None

    def _spawn(self) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def output(self) -> str:
        """Everything the process has printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _check_alive(self, what: str) -> None:
        assert self.process is not None and self.process.poll() is None, \
            f"{what} exited with {self.process.returncode}:\n{self.output}"

    def terminate(self) -> None:
        """Send SIGTERM and return at once (stop() then waits), so several stop together."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, as a service manager stops it; SIGKILL to its process group if it does
        not go. Returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode


class Gunicorn(_Process):
    """``gunicorn wsgi:app --workers N`` from the checkout, on a free loopback port."""

    name = "gunicorn"

    def __init__(self, env: dict, log_dir: Path, *, workers: int = 2,
                 health_host: str | None = None):
        self.port = free_port()
        self.health_host = health_host
        super().__init__([str(BIN / "gunicorn"), "wsgi:app", "--workers", str(workers),
                          "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "5"],
                         env, log_dir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        """Start it and wait until it answers the signed-out page."""
        self._spawn()
        return self.wait_until_up()

    def wait_until_up(self, timeout: float = START_TIMEOUT) -> Gunicorn:
        """Wait until the server answers 200 (with the public host, which production needs)."""
        headers = {"Host": self.health_host} if self.health_host else {}
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive("gunicorn")
            try:
                if httpx.get(f"{self.url}/p/signed-out", headers=headers,
                             timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"gunicorn did not come up:\n{self.output}"
            time.sleep(0.1)


class Worker(_Process):
    """``flask --app portal worker`` from the checkout."""

    name = "worker"

    def __init__(self, env: dict, log_dir: Path):
        super().__init__([str(BIN / "flask"), "--app", "portal", "worker"], env, log_dir)

    def start(self) -> Worker:
        """Start it and wait for the line that says it is working."""
        self._spawn()
        return self.wait_ready()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> Worker:
        deadline = time.monotonic() + timeout
        while "portal worker:" not in self.output:
            self._check_alive("the worker")
            assert time.monotonic() < deadline, f"the worker did not start:\n{self.output}"
            time.sleep(0.05)
        return self

    @property
    def rq_name(self) -> str:
        """The RQ worker's name, from its first line."""
        match = re.search(r"RQ worker (\S+) on queue", self.output)
        assert match, self.output
        return match.group(1)


class Browser:
    """A browser behind an HTTPS reverse proxy: it sends the public ``host``, says the request
    came over HTTPS from ``client_ip`` (the portal trusts one proxy), keeps its cookies
    itself (they are Secure, and the proxy's leg is plain HTTP), and can talk to any of
    several servers, as a load balancer would send it to one or another."""

    def __init__(self, host: str, *, client_ip: str):
        self.host, self.client_ip = host, client_ip
        self.cookies: dict[str, str] = {}
        self.http = httpx.Client(timeout=30, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def _headers(self, path: str) -> dict:
        headers = {"Host": self.host, "X-Forwarded-Proto": "https",
                   "X-Forwarded-For": self.client_ip,
                   # Flask-WTF checks the Referer of HTTPS posts against the host.
                   "Referer": f"https://{self.host}{path}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep_cookies(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def get(self, server: Gunicorn, path: str) -> httpx.Response:
        """GET ``path`` from ``server``."""
        response = self.http.get(server.url + path, headers=self._headers(path))
        self._keep_cookies(response)
        return response

    def post(self, server: Gunicorn, path: str, data: dict) -> httpx.Response:
        """POST the form ``data`` to ``path`` on ``server``."""
        response = self.http.post(server.url + path, data=data, headers=self._headers(path))
        self._keep_cookies(response)
        return response

    def submit(self, server: Gunicorn, page_path: str, form_action: str,
               data: dict) -> httpx.Response:
        """Load ``page_path`` from ``server``, then post ``data`` with the CSRF token of its
        form whose action is ``form_action``, as a person filling the form in would."""
        page = self.get(server, page_path)
        assert page.status_code == 200, (page.status_code, page.text[:500])
        form = BeautifulSoup(page.text, "html.parser").find("form", action=form_action)
        assert form is not None, f"no form posting to {form_action} on {page_path}"
        token = form.find("input", attrs={"name": "csrf_token"})
        fields = {"csrf_token": token["value"]} if token else {}
        return self.post(server, form_action, {**fields, **data})


# ---- a customer signing in -------------------------------------------------------------------

CODE_IN_EMAIL = re.compile(r"^\s*(\d{6})\s*$", re.MULTILINE)


def text_of(message: Message) -> str:
    """The plain-text part of an email."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text part")


def emails_to(smtp, address: str) -> list[Message]:
    """What the SMTP recorder ``smtp`` has received for ``address``."""
    with smtp.lock:
        return [m for m in smtp.messages if m["To"] == address]


def request_code(browser: Browser, server: Gunicorn, link_id: str, email: str):
    """Ask for a passcode on ``server``'s email step of login link ``link_id``."""
    path = f"/p/login/{link_id}"
    return browser.submit(server, path, path, {"email": email})


def sign_in(browser: Browser, server: Gunicorn, link_id: str, smtp, email: str) -> None:
    """The whole passcode flow on ``server``: email, the code from the real email (received
    by the SMTP recorder ``smtp``), in."""
    assert request_code(browser, server, link_id, email).status_code == 303
    [message] = wait_for(lambda: emails_to(smtp, email), what=f"the code email to {email}")
    code = CODE_IN_EMAIL.search(text_of(message)).group(1)
    path = f"/p/login/{link_id}/code"
    response = browser.submit(server, path, path, {"code": code})
    assert response.status_code == 303 and response.headers["Location"].endswith("/p/"), \
        response.text[:500]
