"""Reading the client's address and scheme from a reverse proxy's X-Forwarded-* headers.

Only X-Forwarded-For and X-Forwarded-Proto are trusted, never X-Forwarded-Host: the host a URL
or redirect is built from must come from the request line the proxy itself answered, checked
against TRUSTED_HOSTS, not from a header any client can add.
"""

from __future__ import annotations

import ipaddress

from werkzeug.middleware.proxy_fix import ProxyFix

_ORIGINAL = "werkzeug.proxy_fix.orig"


def parsed_ip(value: str | None) -> str | None:
    """``value`` as a normalised IP address, or None when it is not one."""
    try:
        return ipaddress.ip_address((value or "").strip()).compressed
    except ValueError:
        return None


def peer_address(environ: dict) -> str | None:
    """The address of whoever opened the connection: never a forwarded one."""
    original = environ.get(_ORIGINAL)
    return original.get("REMOTE_ADDR") if original else environ.get("REMOTE_ADDR")


def is_loopback_peer(environ: dict) -> bool:
    """Whether the connection came from this machine (127.0.0.0/8 or ::1)."""
    address = parsed_ip(peer_address(environ))
    return address is not None and ipaddress.ip_address(address).is_loopback


class _CheckForwarded:
    """Runs after ProxyFix: a forwarded value that is not an IP address (or a scheme that is
    not http or https) gives way to what the connection itself says, so nothing longer than an
    IP address reaches the rate limits or the audit log's ip_address column."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        original = environ.get(_ORIGINAL, {})
        address = parsed_ip(environ.get("REMOTE_ADDR"))
        environ["REMOTE_ADDR"] = address or original.get("REMOTE_ADDR")
        if environ.get("wsgi.url_scheme") not in ("http", "https"):
            environ["wsgi.url_scheme"] = original.get("wsgi.url_scheme") or "http"
        return self.app(environ, start_response)


def behind_proxies(wsgi_app, hops: int):
    """``wsgi_app`` reading client address and scheme from ``hops`` trusted proxies."""
    return ProxyFix(_CheckForwarded(wsgi_app), x_for=hops, x_proto=hops, x_host=0)


class TrustedHostsOnly:
    """Answers a plain 400 to a request whose Host is not in TRUSTED_HOSTS, before Flask.

    Flask checks TRUSTED_HOSTS too, but then renders its error page without a URL adapter,
    so the page's url_for fails and the answer becomes a 500. Nothing about the request is
    echoed back.

    GET and HEAD requests for the paths in ``let_by`` (the health probes and the metrics
    scrape, which load balancers and Prometheus send to each process by its IP address) are
    answered whatever their Host: they are handed to Flask under the first trusted host, so
    Flask's own check passes too. Those answers build no URL and no redirect from the host,
    which is all the check protects.
    """

    def __init__(self, app, trusted_hosts, let_by=()):
        self.app = app
        self.trusted_hosts = list(trusted_hosts)
        self.let_by = frozenset(let_by)
        self.stand_in = next((host.lstrip(".") for host in self.trusted_hosts if host),
                             "localhost")

    def __call__(self, environ, start_response):
        from werkzeug.exceptions import SecurityError
        from werkzeug.wsgi import get_host

        if (environ.get("PATH_INFO") in self.let_by
                and environ.get("REQUEST_METHOD") in ("GET", "HEAD")):
            environ["HTTP_HOST"] = self.stand_in
            return self.app(environ, start_response)
        try:
            get_host(environ, self.trusted_hosts)
        except SecurityError:
            body = b"This portal does not answer at that address.\n"
            start_response("400 Bad Request", [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store, private"),
                ("X-Content-Type-Options", "nosniff"),
            ])
            return [body]
        return self.app(environ, start_response)
