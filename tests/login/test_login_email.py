"""The passcode email, end to end through a real SMTP server, and codes kept out of the logs."""

from __future__ import annotations

import logging
import re

import pytest
from bs4 import BeautifulSoup


@pytest.fixture
def app_config(smtp_config):
    return smtp_config


@pytest.fixture
def received(smtp_server, drain_outbox):
    """``received(count=1)``: the newest message once the outbox has delivered ``count``."""
    def newest(count=1):
        drain_outbox()
        assert len(smtp_server.messages) == count, smtp_server.messages
        return smtp_server.messages[-1]

    return newest


def parts(message) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found[part.get_content_type()] = part.get_payload(decode=True).decode(
                part.get_content_charset() or "utf-8")
    return found


def test_the_email_has_the_code_the_merchants_branding_and_how_long_it_works(
        login, customer, received):
    login.request_code("jenny.rosen@example.com")
    message = received()
    assert message["To"] == "jenny.rosen@example.com"
    assert message["From"] == "billing@acme.example"
    assert message["Subject"] == "Your sign-in code for Acme Cloud"

    bodies = parts(message)
    text, html = bodies["text/plain"], bodies["text/html"]
    code = re.search(r"^\s*(\d{6})\s*$", text, re.MULTILINE).group(1)
    assert text.startswith("Acme Cloud")
    assert "It works once, for 10 minutes." in text
    assert "support@acme.example" in text

    page = BeautifulSoup(html, "html.parser")
    assert code in page.text
    assert "Acme Cloud" in page.text
    assert "It works once, for 10 minutes." in page.text
    assert "#3b2fc9" in html  # the merchant's brand colour
    assert len(html.encode()) < 3000, "a light HTML part"
    assert page.find("script") is None and page.find("img") is None


def test_the_subject_never_carries_the_code(login, customer, received):
    login.request_code("jenny.rosen@example.com")
    message = received()
    assert not re.search(r"\d{6}", message["Subject"])


def test_the_validity_in_the_email_follows_the_configuration(app, login, customer, received):
    app.config["PASSCODE_TTL_SECONDS"] = 300
    login.request_code("jenny.rosen@example.com")
    assert "It works once, for 5 minutes." in parts(received())["text/plain"]


def test_branding_is_escaped_in_the_html_part(login, customer, received, session):
    from portal.portal_settings.operations import get_branding

    get_branding(session).business_name = "Acme <b>Cloud</b> & Co"
    get_branding(session).brand_color = "red;x:y"  # 7 characters, as the column allows
    session.commit()
    login.request_code("jenny.rosen@example.com")
    message = received()
    html = parts(message)["text/html"]
    assert "Acme &lt;b&gt;Cloud&lt;/b&gt; &amp; Co" in html
    assert "red;x:y" not in html and "#1f4fd1" in html  # only a #rrggbb colour gets through
    assert "Acme <b>Cloud</b> & Co" in parts(message)["text/plain"]


def test_the_email_goes_to_the_chosen_customers_address_as_it_is_on_file(
        login, make_customer, received):
    make_customer("  Jenny.Rosen@Example.com ")
    login.request_code("jenny.rosen@EXAMPLE.com")
    assert received()["To"] == "Jenny.Rosen@Example.com"


def test_no_email_is_sent_for_an_address_nobody_has(login, customer, smtp_server,
                                                   drain_outbox):
    login.request_code("nobody@example.com")
    drain_outbox()
    assert smtp_server.messages == []


def test_the_code_never_reaches_the_logs_at_any_level(login, client_request, customer,
                                                      received, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    login.request_code("jenny.rosen@example.com")
    first_message = received()
    first = re.search(r"^\s*(\d{6})\s*$", parts(first_message)["text/plain"], re.MULTILINE)[1]
    wrong = f"{(int(first) + 1) % 1_000_000:06d}"
    login.enter_code(wrong, expected_status=422)
    login.resend()
    second = re.search(r"^\s*(\d{6})\s*$", parts(received(2))["text/plain"],
                       re.MULTILINE)[1]
    login.enter_code(second)
    client_request.get_response("customers.overview", _expected_status=200)

    # aiosmtpd, the test's stand-in for the customer's mail server, logs what it receives
    # under "mail.log"; everything else is the portal and its libraries.
    logged = "\n".join(f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
                       for record in caplog.records if not record.name.startswith("mail.log"))
    assert "event login.signed_in" in logged, "the log was captured"
    for code in (first, second):
        assert code not in logged
    out, err = capfd.readouterr()
    for code in (first, second):
        assert code not in out and code not in err


class TestAFailingMailServer:
    @pytest.fixture
    def app_config(self, smtp_config):
        return {**smtp_config, "MAIL_PORT": 1}  # nothing listens there

    def test_it_is_logged_without_the_code_and_the_page_is_the_same(self, login, customer,
                                                                     drain_outbox, caplog):
        caplog.set_level(logging.DEBUG)
        response = login.request_code("jenny.rosen@example.com")
        assert response.headers["Location"].endswith("/code")
        drain_outbox()  # the first try failed; the next waits for its backoff
        failures = [r for r in caplog.records
                    if r.name == "portal.outbox" and r.levelno >= logging.WARNING]
        assert failures
        message = failures[0].getMessage()
        assert "login_code email" in message and "to jenny.rosen@example.com failed" in message
        assert "ConnectionRefusedError" in message
        assert not re.search(r"\b\d{6}\b", message)


class TestWithoutABackgroundWorker:
    """For servers that run no threads: the outbox waits for ``flask worker``."""

    @pytest.fixture
    def app_config(self, smtp_config):
        return {**smtp_config, "WORKER_MODE": "external"}

    def test_the_email_waits_in_the_outbox_until_the_worker_delivers_it(
            self, login, customer, smtp_server, drain_outbox):
        login.request_code("jenny.rosen@example.com")
        assert smtp_server.messages == []  # nothing in this process sends
        drain_outbox()
        assert len(smtp_server.messages) == 1
