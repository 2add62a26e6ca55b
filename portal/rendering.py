"""Full page or fragment: the one decision every customer view makes the same way."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask import g, make_response, redirect, render_template, request


@dataclass(frozen=True)
class Swap:
    """What htmx will do with the response being rendered, kept on ``g.swap`` so templates and
    components (imported without context) can decide where focus goes and what is announced."""

    fragment: bool = False  # only the fragment is rendered; htmx swaps it in place
    target: str | None = None  # id of the element htmx replaces (HX-Target), None without htmx
    source: str | None = None  # id of the element that made the request (HX-Source)


def _htmx_element_id(header: str) -> str | None:
    """The id in htmx's ``tag#id`` description of an element (HX-Target, HX-Source)."""
    if request.headers.get("HX-Request") != "true":
        return None
    _, _, element_id = request.headers.get(header, "").partition("#")
    return unquote(element_id) or None


def wants_fragment() -> bool:
    """True for an htmx request that swaps part of a page.

    Boosted requests and history restores replace the whole body, so they get the full page.
    """
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
        and headers.get("HX-Request-Type", "partial") == "partial"
    )


def render_page(page: str, fragment: str | None = None, *, status: int = 200, **context):
    """Render ``page`` in full, or just ``fragment`` (a ``_name.html`` it includes) for htmx."""
    template = fragment if fragment and wants_fragment() else page
    g.swap = Swap(fragment=template is fragment, target=_htmx_element_id("HX-Target"),
                  source=_htmx_element_id("HX-Source"))
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def see_other(location: str):
    """Redirect after a successful post (post, redirect, get) with 303."""
    return redirect(location, code=303)


def is_safe_return_url(url: str | None) -> bool:
    """Only absolute http(s) URLs with a host may be used as a link back to the merchant."""
    if not url or any(ch in url for ch in "\r\n\t\\") or url != url.strip():
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def is_safe_local_path(path: str | None) -> bool:
    """A same-site path such as /p/overview, never //evil.example or a scheme."""
    if not path or any(ch in path for ch in "\r\n\t\\"):
        return False
    parts = urlsplit(path)
    return path.startswith("/") and not path.startswith("//") and not parts.scheme and not parts.netloc
