"""Email: printed and kept in a mailbox page in development, sent by SMTP in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from portal.mailer import DevMail, send, send_templated

# A tiny template pair for these tests only, put where designers put overrides
# (instance/templates), so the product gets no fake email.
TEXT_TEMPLATE = "Hello {{ name }},\nyour code is {{ code }}.\n"
HTML_TEMPLATE = "<p>Hello {{ name }},</p><p>your code is <strong>{{ code }}</strong>.</p>\n"


@pytest.fixture
def test_email_template(app) -> str:
    folder = Path(app.instance_path) / "templates" / "emails"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mail_test.txt").write_text(TEXT_TEMPLATE)
    (folder / "mail_test.html").write_text(HTML_TEMPLATE)
    return "mail_test"


def parts(message) -> dict[str, str]:
    """The decoded text of each part of a received message, by content type."""
    found = {}
    for part in message.walk():
        if not part.is_multipart():
            charset = part.get_content_charset() or "utf-8"
            text = part.get_payload(decode=True).decode(charset)
            found[part.get_content_type()] = text.replace("\r\n", "\n")  # SMTP sends CRLF
    return found


# ---- development ------------------------------------------------------------------------------

def test_development_mail_is_printed_and_kept(app, session, capsys):
    send("jenny.rosen@example.com", "Your sign-in code", "Your code is 123456.")
    printed = capsys.readouterr().out
    assert "jenny.rosen@example.com" in printed
    assert "Your code is 123456." in printed
    [kept] = session.scalars(select(DevMail)).all()
    assert (kept.recipients, kept.subject, kept.body_text) == (
        "jenny.rosen@example.com", "Your sign-in code", "Your code is 123456.")


def test_templated_development_mail_keeps_both_parts(app, session, test_email_template):
    send_templated("jenny.rosen@example.com", "Your code", test_email_template,
                   name="Jenny", code="424242")
    [kept] = session.scalars(select(DevMail)).all()
    assert kept.body_text == "Hello Jenny,\nyour code is 424242."
    assert "<strong>424242</strong>" in kept.body_html


def test_mailbox_lists_messages_newest_first(app, client_request):
    send("jenny.rosen@example.com", "First message", "one")
    send("ana.silva@example.com", "Second message", "two")
    page = client_request.get("devtools.mailbox")
    items = [li.get_text(" ", strip=True) for li in page.select("main li")]
    assert len(items) == 2
    assert items[0].startswith("Second message") and "ana.silva@example.com" in items[0]
    assert items[1].startswith("First message")


def test_mailbox_shows_one_message_so_a_newcomer_can_read_the_code(app, session,
                                                                  client_request):
    send("jenny.rosen@example.com", "Your sign-in code", "Your code is 987654.")
    message_id = session.scalars(select(DevMail.id)).one()
    page = client_request.get("devtools.mailbox")
    link = page.select_one("main li a")
    assert link["href"] == client_request.url("devtools.show_message", message_id=message_id)

    page = client_request.get("devtools.show_message", message_id=message_id)
    assert page.h1.get_text(strip=True) == "Your sign-in code"
    assert "Your code is 987654." in page.select_one("pre").text


def test_empty_mailbox_says_so(app, client_request):
    page = client_request.get("devtools.mailbox")
    assert "No emails yet" in page.text


def test_a_message_that_does_not_exist_is_not_found(app, client_request):
    client_request.get_response("devtools.show_message", message_id=999, _expected_status=404)


class TestProduction:
    @pytest.fixture
    def app_config(self):
        return {"ENV": "production", "MAIL_BACKEND": "smtp", "PUBLIC_URL": "https://localhost",
                "RATELIMIT_SINGLE_PROCESS": True}

    def test_the_mailbox_page_does_not_exist(self, app, session, client):
        send_to_nobody = DevMail(recipients="jenny.rosen@example.com", subject="Old", body_text="x")
        session.add(send_to_nobody)
        session.commit()
        assert app.config["ENV"] == "production"
        assert client.get("/dev/mailbox").status_code == 404
        assert client.get(f"/dev/mailbox/{send_to_nobody.id}").status_code == 404


# ---- SMTP, end to end through a real server ------------------------------------------------------

class TestSMTP:
    @pytest.fixture
    def app_config(self, smtp_config):
        return smtp_config

    def test_templated_mail_arrives_with_a_text_and_an_html_part(self, app, session,
                                                                 smtp_server,
                                                                 test_email_template):
        send_templated("jenny.rosen@example.com", "Your code", test_email_template,
                       name="Jenny", code="135790")
        [message] = smtp_server.messages
        assert message["To"] == "jenny.rosen@example.com"
        assert message["From"] == "billing@acme.example"
        assert message["Subject"] == "Your code"
        received = parts(message)
        assert received["text/plain"].strip() == "Hello Jenny,\nyour code is 135790."
        assert "<strong>135790</strong>" in received["text/html"]
        # Nothing is kept for a mailbox page in production.
        assert session.scalars(select(DevMail)).all() == []

    def test_the_html_part_escapes_what_it_is_given(self, app, smtp_server,
                                                    test_email_template):
        send_templated("jenny.rosen@example.com", "Your code", test_email_template,
                       name="<script>x</script>", code="1")
        html = parts(smtp_server.messages[0])["text/html"]
        assert "<script>" not in html
        assert "&lt;script&gt;" in html

    def test_nothing_is_printed_when_mail_goes_by_smtp(self, app, smtp_server, capsys):
        send("jenny.rosen@example.com", "Hello", "Your code is 246810.")
        assert "246810" not in capsys.readouterr().out
        assert len(smtp_server.messages) == 1
