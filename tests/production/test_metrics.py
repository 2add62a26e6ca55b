"""/metrics: who may scrape it, and what operators read there: latency by route, the outbox
queue, passcodes sent and payments by outcome."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.invoices.conftest import GATEWAY_SPEC
from tests.invoices.counting_gateway import CountingGateway
from tests.outbox.conftest import (  # noqa: F401  (fixtures)
    controlled_smtp,
    smtp_settings,
    worker_env,
)
from tests.production.ops_support import samples, value

TOKEN = "metrics-token-for-tests-0123456789abcdef"
DECLINED = "4000000000000002"


@pytest.fixture
def app_config(request, smtp_config):
    """Metrics on, with a token; a test changes some with an indirect parametrize
    (``"SMTP": "refuses"``: a mail server that refuses every message)."""
    changes = dict(getattr(request, "param", {}))
    mail = smtp_config
    if changes.pop("SMTP", None) == "refuses":
        server = request.getfixturevalue("controlled_smtp")
        server.reply = "554 Message refused"
        mail = smtp_settings(server)
    # Deliveries happen when the test drains the outbox, so what is queued stays queued.
    return {**mail, "METRICS_ENABLED": True, "METRICS_TOKEN": TOKEN,
            "WORKER_MODE": "external", "PAYMENT_GATEWAY": GATEWAY_SPEC, **changes}


def scrape(client, **headers) -> str:
    """A scrape as Prometheus makes it from this machine."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def requests_counted(exposition: str, route: str, method="GET", status="2xx") -> float:
    return value(exposition, "portal_http_request_duration_seconds_count", method=method,
                 route=route, status=status)


# ---- who may scrape ----------------------------------------------------------------------------

@pytest.mark.parametrize("app_config", [{"METRICS_ENABLED": False}], indirect=True)
def test_metrics_are_off_unless_enabled(client):
    assert client.get("/metrics").status_code == 404


def test_a_scrape_from_this_machine_is_answered(client):
    assert "portal_http_request_duration_seconds" in scrape(client)


def test_a_scrape_from_another_network_needs_the_token(app):
    outsider = app.test_client()
    outsider.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert outsider.get("/metrics").status_code == 403
    assert outsider.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert outsider.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                        ).status_code == 200


def test_a_request_through_the_proxy_is_not_taken_for_this_machine(client):
    # The reverse proxy connects from loopback, on behalf of anyone on the internet.
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.4",
                                           "Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("app_config", [{"METRICS_ALLOWED_NETWORKS": "10.20.0.0/16"}],
                         indirect=True)
def test_networks_named_in_the_settings_may_scrape_without_a_token(app):
    prometheus, stranger = app.test_client(), app.test_client()
    prometheus.environ_base["REMOTE_ADDR"] = "10.20.4.5"
    stranger.environ_base["REMOTE_ADDR"] = "10.21.4.5"
    assert prometheus.get("/metrics").status_code == 200
    assert stranger.get("/metrics").status_code == 403


# ---- requests --------------------------------------------------------------------------------

def test_request_latency_is_counted_by_route_never_by_raw_path(
        client, signed_in_customer, make_invoice):
    invoice = make_invoice(signed_in_customer)
    before = scrape(client)
    for _ in range(3):
        assert client.get(f"/p/invoices/{invoice.id}").status_code == 200
    assert client.get("/p/no-such-page").status_code == 404
    after = scrape(client)
    route = "/p/invoices/<invoice_id>"
    assert requests_counted(after, route) - requests_counted(before, route) == 3
    assert (requests_counted(after, "<unmatched>", status="4xx")
            - requests_counted(before, "<unmatched>", status="4xx")) == 1
    assert invoice.id not in after and "no-such-page" not in after


# ---- the outbox, passcodes, payments ---------------------------------------------------------

@pytest.fixture
def login_link(session, now):
    from portal.portal_settings.operations import activate_login_link

    link = activate_login_link(session, now=now)
    session.commit()
    return link


def test_a_passcode_email_the_mail_server_took_counts_as_sent(
        client, login_link, make_customer, smtp_server, drain_outbox):
    make_customer(email="jenny.rosen@example.com")
    before = scrape(client)
    for email in ("jenny.rosen@example.com", "nobody@example.com"):
        response = client.post(f"/p/login/{login_link.id}", data={"email": email})
        assert response.status_code == 303
    queued = scrape(client)
    assert value(queued, "portal_outbox_pending", kind="email") == 2
    assert (value(queued, "portal_outbox_enqueued_total", kind="email")
            - value(before, "portal_outbox_enqueued_total", kind="email")) == 2

    drain_outbox()
    after = scrape(client)
    assert len(smtp_server.messages) == 1
    # The unknown address's email is rendered and dropped: no passcode was sent to anyone.
    assert value(after, "portal_passcodes_sent_total") - value(
        before, "portal_passcodes_sent_total") == 1
    assert (value(after, "portal_outbox_deliveries_total", kind="email", outcome="sent")
            - value(before, "portal_outbox_deliveries_total", kind="email", outcome="sent")) == 1
    assert (value(after, "portal_outbox_deliveries_total", kind="email", outcome="dropped")
            - value(before, "portal_outbox_deliveries_total", kind="email",
                    outcome="dropped")) == 1
    assert value(after, "portal_outbox_pending", kind="email") == 0


@pytest.mark.parametrize("app_config", [{"SMTP": "refuses", "OUTBOX_MAX_ATTEMPTS": 1}],
                         indirect=True)
def test_an_email_given_up_on_shows_as_failed(client, session, now):
    from portal.outbox.delivery import deliver_due
    from portal.outbox.operations import enqueue_email

    enqueue_email(session, to="jenny.rosen@example.com", subject="Receipt",
                  template="login_code", context={"valid_for": "10 minutes"}, now=now)
    session.commit()
    before = scrape(client)
    assert deliver_due(now=now) == 1
    after = scrape(client)
    assert (value(after, "portal_outbox_deliveries_total", kind="email", outcome="failed")
            - value(before, "portal_outbox_deliveries_total", kind="email",
                    outcome="failed")) == 1
    assert value(after, "portal_outbox_given_up", kind="email") == 1
    assert value(after, "portal_outbox_pending", kind="email") == 0
    assert value(after, "portal_passcodes_sent_total") == value(before,
                                                                "portal_passcodes_sent_total")


def test_the_oldest_due_email_shows_how_long_delivery_is_behind(client, session, now):
    from portal.outbox.operations import enqueue_email

    enqueue_email(session, to="jenny.rosen@example.com", subject="Receipt",
                  template="login_code", context={}, now=now - timedelta(minutes=10))
    session.commit()
    waited = value(scrape(client), "portal_outbox_oldest_due_seconds", kind="email")
    assert waited >= 600


def pay(client, invoice) -> int:
    """Pay ``invoice`` from its page, with the card the form preselects; the answer's status."""
    from bs4 import BeautifulSoup

    page = BeautifulSoup(client.get(f"/p/invoices/{invoice.id}").get_data(as_text=True),
                         "html.parser")
    form = page.select_one("#invoice-payment form")
    data = {"idempotency_key": form.select_one("input[name=idempotency_key]")["value"],
            "payment_method": form.select_one("input[name=payment_method][checked]")["value"]}
    return client.post(f"/p/invoices/{invoice.id}/pay", data=data).status_code


@pytest.mark.parametrize("card, processor_answers, outcome", [
    ("4242424242424242", True, "succeeded"),
    (DECLINED, True, "failed"),
    ("4242424242424242", False, "processing"),
])
def test_a_payment_counts_under_its_outcome(client, signed_in_customer, make_invoice,
                                            make_payment_method, now, card, processor_answers,
                                            outcome):
    make_payment_method(signed_in_customer, number=card)
    invoice = make_invoice(signed_in_customer, created=now - timedelta(days=1))
    before = samples(scrape(client))
    CountingGateway.reset()
    CountingGateway.broken = not processor_answers
    try:
        assert pay(client, invoice) < 500
        assert len(CountingGateway.calls) == 1
    finally:
        CountingGateway.reset()
    after = samples(scrape(client))
    counted = {name: after.get(key, 0) - before.get(key, 0)
               for key in after if key[0] == "portal_payments_total"
               for name in [dict(key[1])["outcome"]]}
    assert {name: n for name, n in counted.items() if n} == {outcome: 1}



# ---- the worker's own port ---------------------------------------------------------------------

def test_the_worker_serves_its_deliveries_and_the_queue_on_its_metrics_port(
        deployed_on_postgresql, session, now, smtp_server, smtp_config,
        worker_env):  # noqa: F811  (the fixture imported above)
    """The worker as a process: in the PostgreSQL run only (tests/production/conftest.py)."""
    import subprocess
    import sys
    import urllib.request

    from portal.outbox.operations import enqueue_email
    from tests.outbox.conftest import ROOT, free_port, wait_for

    enqueue_email(session, to="jenny.rosen@example.com", subject="Your code",
                  template="login_code", context={"valid_for": "10 minutes"}, now=now)
    session.commit()
    port = free_port()
    env = worker_env(**smtp_config)
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "portal", "worker", "--metrics-port", str(port)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: smtp_server.messages, what="the email")

        def scraped():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",  # noqa: S310
                                            timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                return None
            sent = value(text, "portal_outbox_deliveries_total", kind="email", outcome="sent")
            return text if sent == 1 else None

        exposition = wait_for(scraped, what="the worker's metrics")
    finally:
        worker.terminate()
        worker.wait(30)
    assert value(exposition, "portal_passcodes_sent_total") == 1
    assert value(exposition, "portal_outbox_pending", kind="email") == 0
    assert value(exposition, "portal_metrics_source_up", source="database") == 1
