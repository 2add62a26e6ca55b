"""A customer signs in through the login link: email, emailed code, in. With and without htmx."""

from __future__ import annotations

from bs4 import BeautifulSoup
from sqlalchemy import select

from portal.customers.models import LoginPasscode, SignInSession


def page(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def test_without_javascript_the_customer_signs_in_with_posts_and_redirects(
        login, client_request, customer, mailbox, session):
    response = login.request_code("jenny.rosen@example.com")
    assert response.headers["Location"].endswith(f"/p/login/{login.link.id}/code")

    code_page = client_request.get("login.enter_code", link_id=login.link.id)
    assert code_page.h1.text == "Check your email"
    assert "jenny.rosen@example.com" in code_page.text
    assert "10 minutes" in code_page.text

    response = login.enter_code(mailbox.latest_code("jenny.rosen@example.com"))
    assert response.headers["Location"].endswith("/p/")
    client_request.get_response("customers.overview", _expected_status=200)

    record = session.scalars(select(SignInSession)).one()
    assert (record.customer_id, record.via) == (customer.id, "login_link")
    assert record.configuration_id == login.link.configuration_id


def test_with_htmx_the_email_step_is_swapped_for_the_code_step_in_place(
        login, client_request, customer, mailbox):
    response = login.request_code("jenny.rosen@example.com", htmx=True)
    fragment = page(response)
    root = fragment.find(True)
    assert root.name == "div" and root["id"] == "login-step"
    assert fragment.find("html") is None, "a fragment, not a whole page"
    assert fragment.h1.text == "Check your email"
    assert response.headers["HX-Push-Url"] == f"/p/login/{login.link.id}/code"
    assert "HX-Request" in response.headers["Vary"]

    response = login.enter_code(mailbox.latest_code(), htmx=True)
    assert response.headers["HX-Redirect"] == "/p/"
    client_request.get_response("customers.overview", _expected_status=200)


def test_the_code_field_helps_phones_fill_it_in(login, client_request, customer):
    login.request_code("jenny.rosen@example.com")
    code_page = client_request.get("login.enter_code", link_id=login.link.id)
    field = code_page.find("input", attrs={"name": "code"})
    assert field["autocomplete"] == "one-time-code"
    assert field["inputmode"] == "numeric"
    assert code_page.find("label", attrs={"for": field["id"]}).text.strip()


def test_a_code_typed_with_spaces_or_a_hyphen_still_works(login, client_request, customer,
                                                           mailbox):
    login.request_code("jenny.rosen@example.com")
    code = mailbox.latest_code()
    login.enter_code(f" {code[:3]} {code[3:]} ")
    client_request.get_response("customers.overview", _expected_status=200)


def test_the_code_step_without_a_code_requested_sends_the_customer_to_the_email_step(
        login, client_request):
    response = client_request.get_response("login.enter_code", link_id=login.link.id,
                                           _expected_status=303)
    assert response.headers["Location"].endswith(f"/p/login/{login.link.id}")
    email_page = client_request.get("login.enter_email", link_id=login.link.id)
    assert "Enter your email address to get a new code." in email_page.text


def test_a_code_from_one_link_is_not_used_on_another(login, client_request, customer, session,
                                                     now):
    from portal.portal_settings.operations import activate_login_link

    login.request_code("jenny.rosen@example.com")
    newer = activate_login_link(session, now=now, rotate=True)
    session.commit()
    client_request.get_response("login.enter_code", link_id=newer.id, _expected_status=303)


def test_resend_sends_a_new_code_and_the_old_one_stops_working(login, client_request, customer,
                                                               mailbox):
    login.request_code("jenny.rosen@example.com")
    first = mailbox.latest_code()
    login.resend()
    codes = mailbox.codes()
    assert len(codes) == 2
    second = codes[-1]

    code_page = client_request.get("login.enter_code", link_id=login.link.id)
    assert "We sent a new code to jenny.rosen@example.com" in code_page.text

    if first != second:
        wrong = page(login.enter_code(first, expected_status=422))
        assert "The code is not right" in wrong.text
    login.enter_code(second)
    client_request.get_response("customers.overview", _expected_status=200)


def test_resend_with_htmx_swaps_in_the_code_step_with_a_notice(login, customer, mailbox):
    login.request_code("jenny.rosen@example.com", htmx=True)
    fragment = page(login.resend(htmx=True))
    assert fragment.find(True)["id"] == "login-step"
    assert fragment.find(class_="notice").text.startswith("We sent a new code")
    assert len(mailbox.codes()) == 2


def test_use_a_different_email_goes_back_to_the_email_step_with_what_was_typed(
        login, client_request, customer, mailbox):
    login.request_code("Jenny.Rosen@Example.com")
    code_page = client_request.get("login.enter_code", link_id=login.link.id)
    link = code_page.find("a", string="Use a different email")
    assert link["href"] == f"/p/login/{login.link.id}"
    assert link["hx-get"] == link["href"] and link["hx-target"] == "#login-step"

    email_page = client_request.get("login.enter_email", link_id=login.link.id)
    assert email_page.find("input", attrs={"name": "email"})["value"] == "jenny.rosen@example.com"

    fragment = client_request.get("login.enter_email", link_id=login.link.id, _htmx=True)
    assert fragment.find(True)["id"] == "login-step"
    assert fragment.find("html") is None

    login.request_code("someone.else@example.com")
    assert mailbox.codes("someone.else@example.com") == []


def test_asking_for_a_code_again_from_the_same_browser_retires_the_previous_code(
        login, customer, mailbox, session):
    login.request_code("jenny.rosen@example.com")
    first = mailbox.latest_code()
    login.request_code("jenny.rosen@example.com")
    rows = session.scalars(select(LoginPasscode).order_by(LoginPasscode.created,
                                                          LoginPasscode.id)).all()
    assert len(rows) == 2
    old, new = rows
    assert old.expires_at <= new.created, "the first code expired when the second was issued"
    assert (new.expires_at - new.created).total_seconds() == 600
    second = mailbox.latest_code()
    if first != second:
        login.enter_code(first, expected_status=422)
    login.enter_code(second)


def test_signing_in_again_ends_the_browsers_earlier_session(login, client_request, customer,
                                                           mailbox, session):
    login.request_code("jenny.rosen@example.com")
    login.enter_code(mailbox.latest_code())
    login.request_code("jenny.rosen@example.com")
    login.enter_code(mailbox.latest_code())
    records = session.scalars(select(SignInSession).order_by(SignInSession.created)).all()
    assert len(records) == 2
    assert sum(1 for record in records if record.ended_at is None) == 1


def test_sign_out_ends_the_session_and_the_old_cookie_no_longer_works(
        login, client, client_request, customer, mailbox, session):
    login.request_code("jenny.rosen@example.com")
    login.enter_code(mailbox.latest_code())
    signed_in_cookie = client.get_cookie("portal_session").value
    overview = client_request.get("customers.overview")
    assert overview.find("form", attrs={"action": "/p/sign-out"}).find("button").text == "Sign out"

    response = client_request.post_response("login.sign_out")
    assert response.headers["Location"].endswith("/p/signed-out")
    assert session.scalars(select(SignInSession)).one().ended_at is not None

    client.set_cookie("portal_session", signed_in_cookie)
    client_request.get_response("customers.overview", _expected_status=303)
