"""One Playwright and one headless Chromium for the whole test run, however many conftest files
import the browser fixtures (each import is a separate fixture to pytest, but Playwright's sync
API can only be started once per thread)."""

from __future__ import annotations

import threading
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class BrowserUnavailable(Exception):
    """Why the browser tests cannot run here."""


_lock = threading.Lock()
_state: dict = {"users": 0, "manager": None, "browser": None}


def acquire():
    """The shared Chromium, started on first use; pair every call with ``release()``."""
    with _lock:
        if _state["browser"] is None:
            if not Path(CHROMIUM).exists():
                raise BrowserUnavailable(f"{CHROMIUM} is not installed")
            try:
                from playwright.sync_api import sync_playwright
            except ImportError as error:
                raise BrowserUnavailable("the playwright package is not installed") from error
            manager = sync_playwright()
            playwright = manager.start()
            try:
                # Debian's Chromium, never a downloaded one (no `playwright install`).
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                     args=CHROMIUM_ARGS)
            except Exception as error:
                manager.__exit__(None, None, None)
                raise BrowserUnavailable(f"{CHROMIUM} did not start: {error}") from error
            _state.update(manager=manager, browser=browser)
        _state["users"] += 1
        return _state["browser"]


def release() -> None:
    with _lock:
        _state["users"] -= 1
        if _state["users"] > 0 or _state["browser"] is None:
            return
        browser, manager = _state["browser"], _state["manager"]
        _state.update(manager=None, browser=None)
    browser.close()
    manager.__exit__(None, None, None)
