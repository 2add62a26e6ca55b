"""Page weight in a real browser: Debian's Chromium (Playwright, headless) walks a customer's
journey from the login link to a paid invoice, and this prints, per step, the requests made,
the bytes on the wire (response headers + encoded bodies, as Chromium counts them) and the time
it took: once unthrottled, once under DevTools' "Slow 3G" (2,000 ms latency, 400 kbit/s down
and up; applied through CDP). Prints; asserts nothing.

Each run serves a fresh app (Werkzeug, a free loopback port, a temporary SQLite database with
the Acme Cloud demo) and reads the passcode from an in-process SMTP server (aiosmtpd), as the
login tests do. Needs the test extras (playwright, aiosmtpd) and /usr/bin/chromium.

    .venv/bin/python bench/page_weight.py [-v]    # -v: each step's requests, by path
"""

from __future__ import annotations

import os
import re
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# DevTools' "Slow 3G" preset as it was written (500 kbit/s x 0.8, 1024-based; DevTools now
# writes 1000, 50,000 B/s): 2 s of latency per request, 51,200 bytes a second each way.
SLOW_3G = {"offline": False, "latency": 2000,
           "downloadThroughput": 400 * 1024 / 8, "uploadThroughput": 400 * 1024 / 8}
# What Werkzeug adds to the app's headers (status line, Server, Date), for answers only the
# server sees (the icon, which Chromium fetches for itself and Playwright does not report).
SERVER_HEADER_BYTES = 100


@dataclass
class Mailbox:
    """What the in-process SMTP server received."""

    messages: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted for delivery"

    def code_for(self, address: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for message in reversed(self.messages):
                    if address in message["To"]:
                        text = _plain_text(message)
                        return re.search(r"^\s*(\d{6})\s*$", text, re.MULTILINE).group(1)
            time.sleep(0.05)
        raise RuntimeError(f"no passcode email reached {address}")


def _plain_text(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    return ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Wire:
    """What one step costs: each request that reached the server in the step, with the bytes
    Chromium counted for it (Playwright may report a navigation's request after the next step
    began, so requests are matched by path rather than by when they were reported), or, for a
    request the browser made for itself and Playwright never reports (the icon), the bytes the
    server sent."""

    def __init__(self, page, served: list[dict], base: str):
        self.page, self.served, self.base = page, served, base
        self.finished: list[dict] = []  # every request Chromium finished, never cleared
        page.on("requestfinished", self._finished)

    def _finished(self, request):
        sizes = request.sizes()
        self.finished.append({"path": request.url.removeprefix(self.base).split("?")[0],
                              "bytes": sizes["responseHeadersSize"] + sizes["responseBodySize"],
                              "claimed": False})

    def start(self) -> None:
        self.served.clear()
        self.started = time.perf_counter()

    def settle(self, *, icon: bool = False) -> None:
        """On the first visit, until the browser has asked for the icon too."""
        deadline = time.monotonic() + 60
        while icon and not any(e["path"].startswith("/static/favicon.") for e in self.served):
            if time.monotonic() > deadline:
                break  # no icon asked for: nothing more to wait for
            self.page.wait_for_timeout(20)
        self.elapsed = time.perf_counter() - self.started

    def _reported(self, path: str) -> dict | None:
        # Cache hits are reported too, with 0 bytes, and never reach the server.
        deadline = time.monotonic() + (0.5 if path.startswith("/static/favicon.") else 5)
        while True:
            for entry in self.finished:
                if entry["path"] == path and not entry["claimed"] and entry["bytes"]:
                    entry["claimed"] = True
                    return entry
            if time.monotonic() > deadline:
                return None
            self.page.wait_for_timeout(20)

    def totals(self) -> tuple[int, int, list[str]]:
        """Requests that reached the server, their bytes on the wire, and their paths."""
        wire_bytes = 0
        for entry in list(self.served):
            reported = self._reported(entry["path"])
            wire_bytes += reported["bytes"] if reported else entry["bytes"]
        return len(self.served), wire_bytes, [entry["path"] for entry in self.served]


def served_paths(app) -> list[dict]:
    """Every answer the server gives: path and bytes sent (headers estimated)."""
    served: list[dict] = []
    inner = app.wsgi_app

    def recording(environ, start_response):
        entry = {"path": environ["PATH_INFO"], "bytes": SERVER_HEADER_BYTES}

        def start(status, headers, exc_info=None):
            entry["bytes"] += sum(len(name) + len(value) + 4 for name, value in headers)
            return start_response(status, headers, exc_info)

        body = inner(environ, start)
        try:
            for chunk in body:
                entry["bytes"] += len(chunk)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()
            served.append(entry)

    app.wsgi_app = recording
    return served


def journey(browser, mailbox: Mailbox, smtp_port: int, throttle: dict | None) -> list[tuple]:
    """Login link to a paid invoice in a fresh app and a fresh browser context; one row a step."""
    from werkzeug.serving import make_server

    from bench.demo_data import seed_signed_in_demo
    from portal import create_app
    from portal.demo import JENNY
    from portal.extensions import db

    rows = []
    with tempfile.TemporaryDirectory(prefix="page-weight-") as tmp:
        os.environ["PORTAL_INSTANCE_PATH"] = tmp
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
                          "MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1",
                          "MAIL_PORT": smtp_port, "MAIL_DEFAULT_SENDER": "billing@acme.example"})
        with app.app_context():
            demo = seed_signed_in_demo()
            db.session.remove()
        served = served_paths(app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        context = browser.new_context(base_url=base)
        context.set_default_timeout(120_000)
        page = context.new_page()
        if throttle:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", throttle)
        wire = Wire(page, served, base)

        def step(name, act, done, *, icon=False):
            wire.start()
            act()
            done()
            wire.settle(icon=icon)
            requests, wire_bytes, paths = wire.totals()
            rows.append((name, requests, wire_bytes, wire.elapsed, paths))

        try:
            step("open the login link (empty cache)",
                 lambda: page.goto(f"/p/login/{demo.link_id}"),
                 lambda: page.wait_for_function("() => window.htmx !== undefined"), icon=True)
            page.get_by_label("Email address").fill(JENNY)
            step("enter the email (htmx)",
                 lambda: page.get_by_role("button", name="Send me a code").click(),
                 lambda: page.get_by_role("heading", name="Check your email").wait_for())
            page.get_by_label("Code from the email").fill(mailbox.code_for(JENNY))
            step("enter the passcode: overview",
                 lambda: page.get_by_role("button", name="Sign in").click(),
                 lambda: (page.wait_for_url(f"{base}/p/"),
                          page.get_by_role("heading", name="Your account").wait_for(),
                          page.wait_for_load_state("load")))
            step("invoices",
                 lambda: page.get_by_role("navigation").get_by_role("link",
                                                                    name="Invoices").click(),
                 lambda: (page.wait_for_url(f"{base}/p/invoices"),
                          page.wait_for_load_state("load")))
            step("open the unpaid invoice",
                 lambda: page.locator(f'a[href="/p/invoices/{demo.invoice_id}"]').first.click(),
                 lambda: (page.wait_for_url(f"{base}/p/invoices/{demo.invoice_id}"),
                          page.wait_for_load_state("load")))
            step("pay it (htmx): paid",
                 lambda: page.get_by_role("button", name="Pay").click(),
                 lambda: page.get_by_text("received. Thank you.").first.wait_for())
            step("see it paid in the history",
                 lambda: page.get_by_role("navigation").get_by_role("link",
                                                                    name="Invoices").click(),
                 lambda: (page.wait_for_url(f"{base}/p/invoices"),
                          page.wait_for_load_state("load")))
        finally:
            context.close()
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
            with app.app_context():
                from portal.outbox import wakeup

                wakeup.stop_all()
                db.session.remove()
                db.engine.dispose()
    return rows


def main(argv: list[str]) -> int:
    import logging

    from aiosmtpd.controller import Controller
    from playwright.sync_api import sync_playwright

    from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS

    verbose = "-v" in argv  # each step's requests, by path
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line a request otherwise
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=CHROMIUM_ARGS)
            try:
                print(f"Chromium {browser.version}, headless; bytes on the wire = response "
                      "headers + encoded bodies\n")
                for title, throttle in (("unthrottled (loopback)", None),
                                        ('DevTools "Slow 3G" (2,000 ms, 400 kbit/s)', SLOW_3G)):
                    rows = journey(browser, mailbox, smtp_port, throttle)
                    width = max(len(name) for name, *_ in rows)
                    print(title)
                    print(f"  {'step':<{width}} {'requests':>8} {'bytes':>8} {'time':>9}")
                    for name, requests, wire_bytes, elapsed, paths in rows:
                        print(f"  {name:<{width}} {requests:>8} {wire_bytes:>8,} "
                              f"{elapsed * 1000:>7,.0f} ms")
                        if verbose:
                            print("".join(f"      {path}\n" for path in paths), end="")
                    total_requests = sum(r[1] for r in rows)
                    total_bytes = sum(r[2] for r in rows)
                    total_time = sum(r[3] for r in rows)
                    print(f"  {'whole journey':<{width}} {total_requests:>8} {total_bytes:>8,} "
                          f"{total_time * 1000:>7,.0f} ms\n")
            finally:
                browser.close()
    finally:
        smtp.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
