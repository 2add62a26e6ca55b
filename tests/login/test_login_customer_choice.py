"""Which customer an email signs in as, when several customers share it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.login.operations import choose_customer


@pytest.fixture
def earlier(now):
    return lambda days: now - timedelta(days=days)


def test_one_customer_with_the_address_is_chosen(session, make_customer):
    jenny = make_customer("jenny.rosen@example.com")
    assert choose_customer(session, "jenny.rosen@example.com").id == jenny.id


def test_the_address_is_matched_trimmed_and_case_insensitively(session, make_customer):
    jenny = make_customer("  Jenny.Rosen@Example.COM ")
    assert choose_customer(session, "JENNY.rosen@example.com  ").id == jenny.id


def test_nobody_with_the_address_chooses_nobody(session, make_customer):
    make_customer("jenny.rosen@example.com")
    assert choose_customer(session, "jenny.rosen@example.org") is None
    assert choose_customer(session, "") is None


def test_without_live_subscriptions_the_most_recently_created_is_chosen(
        session, make_customer, make_subscription, earlier):
    make_customer("jenny@example.com", created=earlier(300))
    newest = make_customer("Jenny@example.com", created=earlier(10))
    middle = make_customer("jenny@example.com", created=earlier(100))
    make_subscription(middle, status="canceled")
    assert choose_customer(session, "jenny@example.com").id == newest.id


def test_the_most_recent_customer_with_an_active_subscription_beats_a_newer_one_without(
        session, make_customer, make_subscription, earlier):
    old_active = make_customer("jenny@example.com", created=earlier(300))
    make_subscription(old_active, status="active")
    make_customer("jenny@example.com", created=earlier(5))
    assert choose_customer(session, "jenny@example.com").id == old_active.id


def test_among_several_with_active_subscriptions_the_most_recently_created_wins(
        session, make_customer, make_subscription, earlier):
    older = make_customer("jenny@example.com", created=earlier(300))
    make_subscription(older, status="active")
    newer = make_customer("jenny@example.com", created=earlier(100))
    make_subscription(newer, status="active")
    make_customer("jenny@example.com", created=earlier(1))
    assert choose_customer(session, "jenny@example.com").id == newer.id


@pytest.mark.parametrize(("status", "counts_as_active"), [
    ("active", True),
    ("trialing", True),
    ("past_due", True),  # they most need to sign in: to fix the payment
    ("canceled", False),
    ("unpaid", False),
    ("incomplete", False),
    ("paused", False),
])
def test_which_subscription_statuses_count_as_active(session, make_customer, make_subscription,
                                                     earlier, status, counts_as_active):
    with_subscription = make_customer("jenny@example.com", created=earlier(300))
    make_subscription(with_subscription, status=status)
    newest = make_customer("jenny@example.com", created=earlier(1))
    expected = with_subscription if counts_as_active else newest
    assert choose_customer(session, "jenny@example.com").id == expected.id


def test_a_deleted_customer_is_never_chosen(session, make_customer, make_subscription, earlier):
    kept = make_customer("jenny@example.com", created=earlier(300))
    deleted = make_customer("jenny@example.com", created=earlier(1))
    make_subscription(deleted, status="active")
    deleted.deleted = True
    session.commit()
    assert choose_customer(session, "jenny@example.com").id == kept.id


def test_the_demo_signs_jenny_in_as_her_current_account(session, now):
    from portal.demo import seed_demo

    seed_demo(session, now=now)
    session.commit()
    chosen = choose_customer(session, "jenny.rosen@example.com")
    assert chosen.metadata_["demo"] == "current"


def test_the_chosen_customer_is_the_one_signed_in_through_the_pages(
        login, client_request, make_customer, make_subscription, earlier, mailbox, session):
    from sqlalchemy import select

    from portal.customers.models import SignInSession

    active = make_customer("jenny.rosen@example.com", created=earlier(300))
    make_subscription(active, status="past_due")
    make_customer("JENNY.ROSEN@example.com", created=earlier(3))
    login.request_code("Jenny.Rosen@example.com")
    # The email goes to the chosen customer's address as it is on file.
    login.enter_code(mailbox.latest_code("jenny.rosen@example.com"))
    assert session.scalars(select(SignInSession)).one().customer_id == active.id
