"""Real portal processes for the production tests: gunicorn serving ``wsgi:app``, ``flask
--app portal worker``, and a browser-like HTTP client that reaches them directly or as a
reverse proxy would. Not a test module; the fault tests' other servers are in faults.py.

    env = portal_env(database_uri, instance, PUBLIC_URL="https://billing.example.test", ...)
    web = Gunicorn(env, log_dir).start()          # on a free loopback port, waits until up
    worker = Worker(env, log_dir).start()         # waits for its "portal worker:" line
    browser = Browser(web, host="billing.example.test", client_ip="203.0.113.7")
    browser.get("/p/signed-out")                  # or browser.get(path, server=other_web)
    web.stop(); worker.stop()                     # SIGTERM, then SIGKILL if they linger
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from email.message import Message
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from bs4 import BeautifulSoup

from tests.conftest import TEST_SECRET
from tests.outbox.conftest import free_port, wait_for  # noqa: F401  (also used by importers)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0  # seconds: a deadline for a stuck start, not a speed check


def _env(settings: dict) -> dict:
    """This machine's PORTAL_* and gunicorn settings out, the checkout first on PYTHONPATH (so
    subprocesses import this code), the suite's secret key, and ``settings`` in as
    PORTAL_<name> (a value that is not a string as JSON)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PORTAL_") and k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    env["PORTAL_SECRET_KEY"] = TEST_SECRET
    for name, value in settings.items():
        env[f"PORTAL_{name}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def portal_env(database_uri: str, instance: Path, **settings) -> dict:
    """The environment of a portal process as production runs it, on ``database_uri`` with
    the instance folder ``instance`` and ``settings``."""
    return _env({"SQLALCHEMY_DATABASE_URI": database_uri, "INSTANCE_PATH": str(instance),
                 **settings})


def clean_env(**settings) -> dict:
    """The environment of a portal process for the fault tests: ``settings`` only (the
    database and instance among them), and static files read as they are, with no Brotli
    copies built at each start (seconds of CPU; tests/test_static.py checks the copies)."""
    return _env({"STATIC_AUTOREFRESH": "true", **settings})


def children_of(pid: int) -> list[int]:
    """The direct children of ``pid`` (gunicorn's workers), from /proc."""
    try:
        return sorted(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except FileNotFoundError:
        return []


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
    """``gunicorn wsgi:app --workers N`` from the checkout, on a free loopback port (``threads``
    and ``timeout`` as gunicorn's options when given)."""

    name = "gunicorn"

    def __init__(self, env: dict, log_dir: Path, *, workers: int = 2, threads: int | None = None,
                 timeout: int | None = None, health_host: str | None = None):
        self.port = free_port()
        self.workers = workers
        self.health_host = health_host
        command = [str(BIN / "gunicorn"), "wsgi:app", "--workers", str(workers),
                   "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "5"]
        if threads is not None:
            command += ["--threads", str(threads)]
        if timeout is not None:
            command += ["--timeout", str(timeout)]
        super().__init__(command, env, log_dir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        """Start it and wait until every worker is up and it answers the signed-out page."""
        self._spawn()
        return self.wait_until_up()

    def wait_until_up(self, timeout: float = START_TIMEOUT) -> Gunicorn:
        """Wait until the server answers 200 (with the public host, which production needs)
        and all its workers are running."""
        headers = {"Host": self.health_host} if self.health_host else {}
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive("gunicorn")
            try:
                if (httpx.get(f"{self.url}/p/signed-out", headers=headers,
                              timeout=2).status_code == 200
                        and len(self.worker_pids()) == self.workers):
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"gunicorn did not come up:\n{self.output}"
            time.sleep(0.1)

    def worker_pids(self) -> list[int]:
        """gunicorn's worker processes now."""
        return children_of(self.process.pid) if self.process is not None else []


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
    """A browser that fills in forms as a person does (the CSRF token from the page) and never
    follows a redirect by itself. It talks to ``server``, or to the ``server=`` a call names,
    as a load balancer would send it to one instance or another.

    With ``host`` it is behind an HTTPS reverse proxy: it sends the public host, says the
    request came over HTTPS from ``client_ip`` (the portal trusts one proxy) and keeps its
    cookies itself (they are Secure, and the proxy's leg is plain HTTP)."""

    def __init__(self, server: Gunicorn | None = None, *, host: str | None = None,
                 client_ip: str | None = None, timeout: float = 30.0):
        self.server, self.host, self.client_ip = server, host, client_ip
        self.cookies: dict[str, str] = {}
        self.http = httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def _url(self, path: str, server: Gunicorn | None) -> str:
        server = server or self.server
        assert server is not None, "no server to ask"
        parts = urlsplit(path)  # a Location header may be absolute (the public URL)
        return server.url + parts.path + (f"?{parts.query}" if parts.query else "")

    def _headers(self, path: str) -> dict:
        headers = {}
        if self.host:
            # Flask-WTF checks the Referer of HTTPS posts against the host.
            headers.update({"Host": self.host, "X-Forwarded-Proto": "https",
                            "Referer": f"https://{self.host}{urlsplit(path).path}"})
        if self.client_ip:
            headers["X-Forwarded-For"] = self.client_ip
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep_cookies(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, path: str, *, server: Gunicorn | None = None) -> httpx.Response:
        """GET ``path``."""
        return self._keep_cookies(self.http.get(self._url(path, server),
                                                headers=self._headers(path)))

    def post(self, path: str, data: dict, *, server: Gunicorn | None = None) -> httpx.Response:
        """POST the form ``data`` to ``path``, as it is."""
        return self._keep_cookies(self.http.post(self._url(path, server), data=data,
                                                 headers=self._headers(path)))

    def _page(self, page_path: str, server: Gunicorn | None) -> httpx.Response:
        page = self.get(page_path, server=server)
        assert page.status_code == 200, (page_path, page.status_code, page.text[:500])
        return page

    def submit(self, page_path: str, action: str, data: dict, *,
               server: Gunicorn | None = None) -> httpx.Response:
        """Load ``page_path``, then post ``data`` with the CSRF token of its form posting to
        ``action``, as a person filling the form in would."""
        token = form_token(self._page(page_path, server).text, action)
        return self.post(action, {**({"csrf_token": token} if token else {}), **data},
                         server=server)

    def submit_form(self, page_path: str, action: str, *, server: Gunicorn | None = None,
                    **changes) -> httpx.Response:
        """Load ``page_path`` and post its form to ``action`` as it is filled in (hidden
        fields, the checked or first radio button), with ``changes`` typed over it."""
        fields = form_fields(self._page(page_path, server).text, action)
        return self.post(action, {**fields, **changes}, server=server)

    def request_code(self, link_id: str, email: str, *,
                     server: Gunicorn | None = None) -> httpx.Response:
        """Ask for a passcode on the login link; the code page as the browser lands on it."""
        answer = post_email(self, server, link_id, email)
        assert answer.status_code == 303, (answer.status_code, answer.text[:500])
        return self.get(answer.headers["Location"], server=server)

    def enter_code(self, link_id: str, code: str, *,
                   server: Gunicorn | None = None) -> httpx.Response:
        """Type the passcode; the answer (a 303 to the overview when it was right)."""
        path = f"/p/login/{link_id}/code"
        return self.submit(path, path, {"code": code}, server=server)


def _forms(html: str, action: str | None):
    for form in BeautifulSoup(html, "html.parser").find_all("form"):
        if action is None or (form.get("action") or "").split("?")[0] == action:
            yield form


def form_token(html: str, action: str | None = None) -> str | None:
    """The csrf_token of the form posting to ``action`` (or of the first form)."""
    for form in _forms(html, action):
        token = form.find("input", attrs={"name": "csrf_token"})
        return token["value"] if token else None
    raise AssertionError(f"no form posts to {action}")


def form_fields(html: str, action: str) -> dict:
    """What a browser would send for the form posting to ``action``, untouched."""
    for form in _forms(html, action):
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


# ---- a customer signing in -------------------------------------------------------------------

CODE_IN_EMAIL = re.compile(r"^\s*(\d{6})\s*$", re.MULTILINE)


def text_of(message: Message) -> str:
    """The plain-text part of an email."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text part")


def passcode_in(message: Message) -> str:
    """The six-digit code of a passcode email (its text part)."""
    match = CODE_IN_EMAIL.search(text_of(message))
    assert match, "no passcode in the email"
    return match.group(1)


def emails_to(smtp, address: str) -> list[Message]:
    """What the SMTP recorder ``smtp`` has received for ``address``."""
    with smtp.lock:
        return [m for m in smtp.messages if m["To"] == address]


def post_email(browser: Browser, server: Gunicorn | None, link_id: str, email: str):
    """Ask for a passcode on ``server``'s email step of login link ``link_id``; the answer."""
    path = f"/p/login/{link_id}"
    return browser.submit(path, path, {"email": email}, server=server)


def sign_in(browser: Browser, server: Gunicorn | None, link_id: str, smtp, email: str) -> None:
    """The whole passcode flow on ``server``: email, the code from the real email (received
    by the SMTP recorder ``smtp``), in."""
    assert post_email(browser, server, link_id, email).status_code == 303
    [message] = wait_for(lambda: emails_to(smtp, email), what=f"the code email to {email}")
    response = browser.enter_code(link_id, passcode_in(message), server=server)
    assert response.status_code == 303 and response.headers["Location"].endswith("/p/"), \
        response.text[:500]
