"""texts.html rewords the texts Python code shows: flashes, notices, validation messages,
email subjects and the error pages' words."""

from __future__ import annotations

import pytest

from portal.designer.texts import TextsError, compile_table, customer_text

TEXTS = """
    {% set texts = {
      "Your name has been updated": "Thanks! We saved your name.",
      "{label} must be {max_length} characters or fewer": "{label}: {max_length} characters at most",
      "Enter your email address": "Type your email address",
      "Your sign-in code for {business_name}": "{business_name}: your code",
      "Page not found": "Nothing lives here",
    } %}
"""


@pytest.fixture
def texts(write_override):
    return write_override("texts.html", TEXTS)


def test_a_flash_message_is_reworded_after_a_real_form_post(
        client_request, signed_in_customer, allow_name_changes, texts):
    client_request.post_response("customers.update_name", _data={"name": "Jenny Rosen-Smith"})
    page = client_request.get("customers.billing_information")
    assert page.select_one(".notice").text == "Thanks! We saved your name."
    assert "Your name has been updated" not in page.text


def test_the_htmx_notice_of_the_same_post_is_reworded_and_announced(
        client_request, signed_in_customer, allow_name_changes, texts):
    page = client_request.post("customers.update_name", _data={"name": "Jenny R."},
                               _htmx=True, _expected_status=200)
    assert page.select_one("#name-section .notice").text == "Thanks! We saved your name."
    assert page.select_one("#announcements").text == "Thanks! We saved your name."


@pytest.mark.parametrize("htmx", [False, True])
def test_a_validation_message_with_a_number_is_reworded_by_its_pattern(
        client_request, signed_in_customer, allow_name_changes, texts, htmx):
    page = client_request.post("customers.update_name", _data={"name": "x" * 257},
                               _htmx=htmx, _expected_status=422)
    shown = "Name: 256 characters at most"
    assert page.select_one("#name-error").text.strip() == f"Error: {shown}"
    assert page.select_one(".error-summary a").text == shown
    assert page.select_one("#name")["value"] == "x" * 257


def test_texts_the_override_does_not_name_are_left_as_they_are(
        client_request, signed_in_customer, allow_name_changes, texts):
    page = client_request.post("customers.update_name", _data={"name": ""},
                               _expected_status=422)
    assert page.select_one("#name-error").text.strip() == \
        "Error: Enter your name or your business's name"


def test_a_field_label_from_python_is_reworded(client_request, login_link, write_override):
    write_override("texts.html", '{% set texts = {"Email address": "Your email"} %}')
    page = client_request.get("login.enter_email", link_id=login_link.id)
    assert page.select_one('label[for="email"]').text == "Your email"


def test_an_email_subject_is_reworded_when_the_email_is_sent(
        client_request, login_link, make_customer, texts, sent_mail):
    make_customer()
    client_request.post_response("login.enter_email", link_id=login_link.id,
                                 _data={"email": "jenny.rosen@example.com"})
    [mail] = sent_mail()
    assert mail.subject == "Acme Cloud: your code"


def test_the_error_pages_words_are_reworded(client, acme, texts):
    response = client.get("/p/no-such-page")
    assert response.status_code == 404
    assert "<h1>Nothing lives here</h1>" in response.get_data(as_text=True)


def test_a_locale_section_is_used_for_pages_in_that_locale_first(
        client_request, login_link, write_override):
    write_override("texts.html", """
        {% set texts = {"Email address": "Email"} %}
        {% set texts_en = {"Email address": "E-mail (English pages)"} %}
        {% set texts_fr = {"Email address": "Adresse e-mail"} %}
    """)
    page = client_request.get("login.enter_email", link_id=login_link.id)
    assert page.select_one('label[for="email"]').text == "E-mail (English pages)"


# ---- the table itself ---------------------------------------------------------------------------

def test_the_most_specific_pattern_wins_and_placeholders_are_put_back():
    table = compile_table("texts", {
        "{anything}": "caught by the catch-all",
        "Tax ID {value} has been added": "Added {value}",
        "Payment of {amount} received. Thank you.": "Thanks for {amount}",
    })
    assert table.reword("Tax ID DE123456789 has been added") == "Added DE123456789"
    assert table.reword("Payment of €12.50 received. Thank you.") == "Thanks for €12.50"
    assert table.reword("Something else") == "caught by the catch-all"


def test_a_placeholder_used_twice_must_match_the_same_text_twice():
    table = compile_table("texts", {"{a} and {a}": "twice {a}"})
    assert table.reword("x and x") == "twice x"
    assert table.reword("x and y") is None


@pytest.mark.parametrize(("mapping", "complaint"), [
    ([("a", "b")], "must be a dictionary"),
    ({"Enter a quantity": 3}, "must be in quotes"),
    ({"Enter {n} things": "Type {count} things"}, "uses {count}"),
])
def test_a_table_that_cannot_be_used_is_refused_with_what_is_wrong(mapping, complaint):
    with pytest.raises(TextsError, match=complaint):
        compile_table("texts", mapping)


def test_a_replacement_is_plain_text_so_markup_is_shown_as_typed(
        client_request, signed_in_customer, allow_name_changes, write_override):
    write_override("texts.html",
                   '{% set texts = {"Your name has been updated": "<b>Saved</b>"} %}')
    client_request.post_response("customers.update_name", _data={"name": "Jenny"})
    page = client_request.get("customers.billing_information")
    assert page.select_one(".notice").text == "<b>Saved</b>"
    assert page.select_one(".notice b") is None


def test_the_texts_template_is_read_once_while_it_is_unchanged(app, write_override,
                                                               monkeypatch):
    from portal.designer import texts as texts_module

    write_override("texts.html", '{% set texts = {"Hello": "Hi"} %}')
    reads = []
    real = texts_module.read_tables
    monkeypatch.setattr(texts_module, "read_tables",
                        lambda template: reads.append(template) or real(template))
    assert [customer_text("Hello") for _ in range(5)] == ["Hi"] * 5
    assert len(reads) == 1
