"""Creating a customer from the dashboard: the email checked as the portal checks it, what was
typed kept when something is wrong, and a warning before a second customer gets an address
that one already has."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.customers.models import Customer
from portal.customers.operations import CustomerRefused, create_customer
from portal.events import AuditEvent


def text_of(element) -> str:
    return " ".join(element.get_text(" ").split()) if element is not None else ""


def customer_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Customer.id)))


def test_the_form_asks_for_an_email_address_and_optionally_a_name_and_phone(client_request,
                                                                           signed_in_staff):
    page = client_request.get("admin_customers.new_customer")

    labels = [text_of(label) for label in page.select("form label")]
    assert labels == ["Email address", "Name (optional)", "Phone number (optional)"]
    assert page.select_one("form")["method"] == "post"
    assert page.select_one("#create_another") is None


def test_a_new_customer_opens_on_their_page(client_request, signed_in_staff, session):
    response = client_request.post_response(
        "admin_customers.create_customer",
        _data={"email": "  Jenny.Rosen+Shop@Example.com ", "name": "Jenny Rosen",
               "phone": "+1 415 555 0100"})

    customer = session.scalars(select(Customer)).one()
    assert response.headers["Location"] == client_request.url(
        "admin_customers.customer_page", customer_id=customer.id)
    # Stored as typed (trimmed), matched case-insensitively, as the portal's email form does.
    assert (customer.email, customer.email_normalized) == ("Jenny.Rosen+Shop@Example.com",
                                                           "jenny.rosen+shop@example.com")
    assert (customer.name, customer.phone) == ("Jenny Rosen", "+1 415 555 0100")
    event = session.scalars(select(AuditEvent).where(AuditEvent.type == "customer.created")).one()
    assert event.actor == f"staff:{signed_in_staff.id}" and event.object_id == customer.id
    page = client_request.get("admin_customers.customer_page", customer_id=customer.id)
    assert "Jenny Rosen has been added as a customer." in text_of(page.select_one(".notice"))


def test_only_an_email_address_is_needed(client_request, signed_in_staff, session):
    client_request.post_response("admin_customers.create_customer",
                                 _data={"email": "jörg@example.com"})

    customer = session.scalars(select(Customer)).one()
    assert (customer.email, customer.name, customer.phone) == ("jörg@example.com", None, None)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"email": ""}, "email", "Enter the customer's email address"),
    ({"email": "   "}, "email", "Enter the customer's email address"),
    ({"email": "jenny"}, "email",
     "Enter an email address in the correct format, like name@example.com"),
    ({"email": "jenny@localhost"}, "email",
     "Enter an email address in the correct format, like name@example.com"),
    ({"email": "jenny rosen@example.com"}, "email",
     "Enter an email address in the correct format, like name@example.com"),
    ({"email": "a" * 310 + "@example.com"}, "email",
     "Email address must be 320 characters or fewer"),
    ({"email": "jenny@example.com\x00"}, "email",
     "Email address must not contain control characters such as tabs or line breaks"),
    ({"email": "jenny@example.com", "name": "x" * 257}, "name",
     "Name must be 256 characters or fewer"),
    ({"email": "jenny@example.com", "name": "Jenny\tRosen"}, "name",
     "Name must not contain control characters such as tabs or line breaks"),
    ({"email": "jenny@example.com", "phone": "call me"}, "phone",
     "Enter a phone number using only numbers, spaces, brackets, hyphens and a + at the start"),
    ({"email": "jenny@example.com", "phone": "123"}, "phone",
     "Enter a phone number with between 7 and 20 digits, like 01632 960 001 or +44 808 157 0192"),
])
def test_bad_input_is_shown_by_its_field_kept_and_nothing_is_saved(client_request,
                                                                   signed_in_staff, session,
                                                                   data, field, message):
    page = client_request.post("admin_customers.create_customer", _data=data,
                               _expected_status=422)

    assert page.title.get_text(strip=True).startswith("Error: ")
    summary = page.select_one(".error-summary")
    assert summary.select_one(f"a[href='#{field}']").get_text(strip=True) == message
    assert message in text_of(page.select_one(f"#{field}-error"))
    assert page.select_one(f"#{field}")["aria-invalid"] == "true"
    for name, value in data.items():
        if "\x00" not in value:
            assert page.select_one(f"#{name}")["value"] == value.strip()
    assert customer_count(session) == 0


@pytest.fixture
def existing(make_customer):
    return make_customer(email="jenny.rosen@example.com", name="Jenny at Acme")


@pytest.mark.parametrize("typed", ["jenny.rosen@example.com", "JENNY.Rosen@example.com"])
def test_an_address_another_customer_has_is_warned_about_before_anything_is_made(
        client_request, signed_in_staff, session, existing, typed):
    page = client_request.post("admin_customers.create_customer",
                               _data={"email": typed, "name": "Jenny at Home"},
                               _expected_status=422)

    warning = text_of(page.select_one(".notice--warning"))
    assert "A customer already has this email address" in warning
    assert "the most recently created that has an active subscription" in warning
    assert page.select_one(".notice--warning a")["href"] == client_request.url(
        "admin_customers.customer_page", customer_id=existing.id)
    assert page.select_one(".error-summary a[href='#create_another']") is not None
    assert page.select_one("#name")["value"] == "Jenny at Home"
    assert customer_count(session) == 1


def test_a_second_customer_with_the_address_is_made_once_the_box_is_ticked(
        client_request, signed_in_staff, session, existing):
    client_request.post_response("admin_customers.create_customer",
                                 _data={"email": "jenny.rosen@example.com",
                                        "name": "Jenny at Home", "create_another": "y"})

    assert customer_count(session) == 2
    event = session.scalars(select(AuditEvent).where(AuditEvent.type == "customer.created")).one()
    assert event.data["customers_with_this_email"] == 2


# ---- the operation, as the API will call it ------------------------------------------------------

def test_the_operation_refuses_what_the_form_refuses(session, now):
    with pytest.raises(CustomerRefused) as refused:
        create_customer(session, email="not an address", now=now, actor="api")
    assert refused.value.field == "email"


def test_the_operation_can_make_a_customer_without_an_email_address_as_stripe_can(session, now):
    customer = create_customer(session, email=None, name="Acme Ltd", now=now, actor="api")
    session.commit()

    assert (customer.email, customer.email_normalized, customer.name) == (None, None, "Acme Ltd")
    assert customer.created == now and customer.balance == 0 and customer.metadata_ == {}
