"""Fixtures for the /v1 API: a secret key, the app on a real port, and the official stripe
package pointed at it.

- ``api_key``: a fresh secret key (``sk_live_...``) made through the operation the CLI uses.
- ``api_server``: the test ``app`` served by Werkzeug on 127.0.0.1 and a free port, in a
  thread, with ``PUBLIC_URL`` set to it (portal session URLs and invoice links point there).
- ``stripe_client``: ``stripe.StripeClient`` with that key and base address, no retries (a
  test sees the first answer).
- ``stripe_module``: the module-level ``stripe`` configured the same way (``stripe.api_base``),
  as older integration code uses it; restored afterwards.
- ``api``: hand-built requests through Flask's test client, for what no client library sends
  (bad keys, odd bodies): ``api.get(path, params)``, ``api.post(path, data, headers=)``,
  ``api.delete(path)``; each returns the response, ``response.json`` parsed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import stripe
from werkzeug.serving import make_server

from portal.dbtypes import utcnow
from portal.integration.operations import create_key


@pytest.fixture
def api_key(app, session) -> str:
    """A new secret key, committed."""
    new = create_key(session, name="tests", now=utcnow(), actor="merchant")
    session.commit()
    return new.secret


@dataclass
class ApiServer:
    url: str


@pytest.fixture
def api_server(app):
    """Serve the test app on a free port for the length of one test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="api-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    previous = app.config["PUBLIC_URL"]
    app.config["PUBLIC_URL"] = url
    try:
        yield ApiServer(url)
    finally:
        app.config["PUBLIC_URL"] = previous
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def stripe_client(api_server, api_key) -> stripe.StripeClient:
    """The official client, talking to the test server."""
    return stripe.StripeClient(api_key, base_addresses={"api": api_server.url},
                               max_network_retries=0)


@pytest.fixture
def stripe_module(api_server, api_key):
    """``stripe`` itself (``stripe.Customer.create(...)``), pointed at the test server."""
    saved = (stripe.api_key, stripe.api_base, stripe.max_network_retries)
    stripe.api_key, stripe.api_base, stripe.max_network_retries = api_key, api_server.url, 0
    try:
        yield stripe
    finally:
        stripe.api_key, stripe.api_base, stripe.max_network_retries = saved


class Api:
    def __init__(self, client, key: str):
        self.client, self.key = client, key

    def _headers(self, headers: dict | None, key: str | None) -> dict:
        merged = {"Authorization": f"Bearer {self.key if key is None else key}"}
        merged.update(headers or {})
        return {name: value for name, value in merged.items() if value is not None}

    def get(self, path: str, params=None, *, headers=None, key=None):
        return self.client.get(path, query_string=params, headers=self._headers(headers, key))

    def post(self, path: str, data=None, *, headers=None, key=None, **kwargs):
        return self.client.post(path, data=data, headers=self._headers(headers, key), **kwargs)

    def delete(self, path: str, params=None, *, headers=None, key=None):
        return self.client.delete(path, query_string=params,
                                  headers=self._headers(headers, key))


@pytest.fixture
def api(client, api_key) -> Api:
    """Hand-built requests to the API through the test client, with a valid key."""
    return Api(client, api_key)
