"""Saving, choosing and removing a customer's cards, and the rules that guard them.

Shared by the customer portal, and later the merchant dashboard and the API: no request here.
Operations flush; the caller commits (or rolls back, and nothing has changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from babel.lists import format_list
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal.catalog.models import Price
from portal.customers.models import Customer
from portal.events import raise_event
from portal.locking import lock_customer
from portal.payments.gateway import CardDetails, PaymentGateway, TokenizedCard
from portal.payments.models import PaymentMethod
from portal.subscriptions.models import LIVE_STATUSES, Subscription, SubscriptionItem
from portal.translation import current_locale


class PaymentMethodRefused(Exception):
    """A rule forbids the change; ``message`` says why, in words for the customer."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class AttachedCard:
    payment_method: PaymentMethod
    # True when the same card (number and expiry) was saved already, e.g. a form sent twice.
    already_saved: bool


def attached_payment_methods(session: Session, customer: Customer) -> list[PaymentMethod]:
    """The customer's saved cards: the default first, then newest first."""
    methods = session.scalars(
        select(PaymentMethod)
        .where(PaymentMethod.customer_id == customer.id)
        .order_by(PaymentMethod.created.desc(), PaymentMethod.id)
    ).all()
    return sorted(methods, key=lambda m: m.id != customer.default_payment_method_id)


def find_payment_method(session: Session, customer: Customer, payment_method_id: str
                        ) -> PaymentMethod | None:
    """One of the customer's saved cards by id; None for anyone else's, or a removed one."""
    return session.scalars(
        select(PaymentMethod).where(PaymentMethod.id == payment_method_id,
                                    PaymentMethod.customer_id == customer.id)
    ).first()


def attach_card(session: Session, customer: Customer, card_details: CardDetails,
                make_default: bool, now: datetime, actor: str, gateway: PaymentGateway,
                ip_address: str | None = None) -> AttachedCard:
    """Tokenize a card with the gateway and save it; raises CardError when it is refused."""
    # The processor call comes before the lock, so a slow processor holds up no other request.
    card = gateway.tokenize_card(card_details, now=now)
    lock_customer(session, customer)
    existing = _saved_card_like(session, customer, card)
    if existing is None:
        method = PaymentMethod(
            customer_id=customer.id, type="card", card_brand=card.brand, card_last4=card.last4,
            card_exp_month=card.exp_month, card_exp_year=card.exp_year,
            card_funding=card.funding, card_country=card.country, fingerprint=card.fingerprint,
            processor=gateway.name, processor_token=card.token,
            billing_name=card_details.name, created=now, metadata_={},
        )
        try:
            # A savepoint, so the unique index firing leaves the caller's transaction usable.
            with session.begin_nested():
                session.add(method)
                session.flush()
        except IntegrityError:
            # Saved meanwhile by a writer that did not take the lock: the unique index on live
            # cards stopped this copy, and the customer hears what a resubmitted form hears.
            existing = _saved_card_like(session, customer, card)
            if existing is None:
                raise
        else:
            raise_event(session, "payment_method.attached", now=now, actor=actor,
                        customer_id=customer.id, object_id=method.id, ip_address=ip_address,
                        data=_card_summary(method))
    if existing is not None:
        # A double click or a resubmitted form saves one card, not two; the processor forgets
        # the token made for the copy.
        gateway.detach(card.token)
        method = existing
    if make_default:
        set_default_payment_method(session, customer, method, now=now, actor=actor,
                                   ip_address=ip_address)
    return AttachedCard(method, already_saved=existing is not None)


def set_default_payment_method(session: Session, customer: Customer,
                               payment_method: PaymentMethod, now: datetime, actor: str,
                               ip_address: str | None = None) -> bool:
    """Make the card the customer's default, and the card of every live subscription that is
    charged automatically. Returns False when it already was. Refuses an expired card, and
    one removed meanwhile (by another tab, say)."""
    lock_customer(session, customer)
    session.refresh(payment_method)
    if payment_method.customer_id is None:
        raise PaymentMethodRefused(
            _("%(label)s has been removed, so it cannot be your default. Choose another card, "
              "or add a new one.", label=payment_method.label)
        )
    _check_owned(customer, payment_method)
    if payment_method.is_expired(now):
        raise PaymentMethodRefused(
            _("%(label)s has expired, so it cannot be your default. Add a new card, or choose "
              "one that has not expired.", label=payment_method.label)
        )
    changed = _set_customer_default(session, customer, payment_method, now=now, actor=actor,
                                    ip_address=ip_address)
    changed |= move_subscriptions_to_card(session, customer, payment_method, now=now,
                                          actor=actor, ip_address=ip_address)
    return changed


def move_subscriptions_to_card(session: Session, customer: Customer,
                              payment_method: PaymentMethod, *, now: datetime, actor: str,
                              ip_address: str | None = None) -> bool:
    """Make ``payment_method`` the card of every live subscription of the customer that is
    charged automatically (what a new default card does), one customer.subscription.updated
    each; the caller has the customer's lock and has checked the card. False when none
    moved."""
    changed = False
    for subscription in _live_subscriptions(session, customer, automatic_only=True):
        changed |= _set_subscription_default(session, subscription, payment_method, now=now,
                                             actor=actor, ip_address=ip_address)
    return changed


def removal_refusals(session: Session, customer: Customer, methods: list[PaymentMethod],
                     now: datetime) -> dict[str, str]:
    """For each of ``methods`` that may not be removed now, the reason in plain words."""
    automatic = _live_subscriptions(session, customer, automatic_only=True)
    if not automatic:
        return {}
    attached = attached_payment_methods(session, customer)
    reason = _removal_reason(automatic)
    refusals = {}
    for method in methods:
        others = [m for m in attached if m.id != method.id]
        usable_others = [m for m in others if not m.is_expired(now)]
        # The last card may not go; nor the last card that still works (removing an expired
        # one beside it is fine).
        if not others or (not method.is_expired(now) and not usable_others):
            refusals[method.id] = reason
    return refusals


@dataclass(frozen=True)
class RemovalCheck:
    allowed: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


def can_remove(session: Session, customer: Customer, payment_method: PaymentMethod,
               now: datetime) -> RemovalCheck:
    """Whether the customer may remove the card now, and if not, why."""
    _check_owned(customer, payment_method)
    reason = removal_refusals(session, customer, [payment_method], now).get(payment_method.id)
    return RemovalCheck(reason is None, reason)


def next_default_after_removal(session: Session, customer: Customer,
                               payment_method: PaymentMethod, now: datetime
                               ) -> PaymentMethod | None:
    """The card that becomes default when the default ``payment_method`` is removed: the newest
    remaining card that has not expired, else the newest remaining card."""
    if customer.default_payment_method_id != payment_method.id:
        return None
    others = [m for m in attached_payment_methods(session, customer) if m.id != payment_method.id]
    others.sort(key=lambda m: (m.created, m.id), reverse=True)
    working = [m for m in others if not m.is_expired(now)]
    return (working or others or [None])[0]


def detach_payment_method(session: Session, customer: Customer, payment_method: PaymentMethod,
                          now: datetime, actor: str, gateway: PaymentGateway,
                          ip_address: str | None = None,
                          keep_last_card: bool = True) -> PaymentMethod | None:
    """Remove a saved card: the row stays for history, unlinked from the customer. Returns the
    card that became the new default, if the default was removed. A card another request
    removed first is left as it is (the customer's wish is already done).

    ``keep_last_card`` is the portal's rule (customers may not remove the last working card
    of a subscription charged automatically); the merchant's API detaches as Stripe does
    (``keep_last_card=False``), and those subscriptions are left without a card."""
    # Locked before the last-card rule is read: otherwise parallel removes of a customer's
    # cards each see another card left, and all succeed.
    lock_customer(session, customer)
    session.refresh(payment_method)
    if payment_method.customer_id is None:
        return None
    check = can_remove(session, customer, payment_method, now)
    if keep_last_card and not check:
        raise PaymentMethodRefused(check.reason)
    was_default = customer.default_payment_method_id == payment_method.id
    new_default = next_default_after_removal(session, customer, payment_method, now)
    if was_default:
        _set_customer_default(session, customer, new_default, now=now, actor=actor,
                              ip_address=ip_address)
    # Live subscriptions that paid with this card move to the customer's default card.
    replacement = session.get(PaymentMethod, customer.default_payment_method_id) \
        if customer.default_payment_method_id else None
    for subscription in _live_subscriptions(session, customer, automatic_only=False):
        if subscription.default_payment_method_id == payment_method.id:
            _set_subscription_default(session, subscription, replacement, now=now, actor=actor,
                                      ip_address=ip_address)
    payment_method.customer_id = None
    payment_method.detached_at = now
    raise_event(session, "payment_method.detached", now=now, actor=actor,
                customer_id=customer.id, object_id=payment_method.id, ip_address=ip_address,
                data=_card_summary(payment_method))
    session.flush()
    # Last, so a processor failure leaves nothing half-done: the caller does not commit.
    gateway.detach(payment_method.processor_token)
    return new_default if was_default else None


# ---- helpers --------------------------------------------------------------------------------

def _saved_card_like(session: Session, customer: Customer, card: TokenizedCard
                     ) -> PaymentMethod | None:
    """The customer's live card with the same number and expiry, if saved already."""
    if not card.fingerprint:
        return None
    return session.scalars(
        select(PaymentMethod).where(
            PaymentMethod.customer_id == customer.id,
            PaymentMethod.detached_at.is_(None),
            PaymentMethod.fingerprint == card.fingerprint,
            PaymentMethod.card_exp_month == card.exp_month,
            PaymentMethod.card_exp_year == card.exp_year,
        )
    ).first()


def _check_owned(customer: Customer, payment_method: PaymentMethod) -> None:
    if payment_method.customer_id != customer.id:
        # Views look cards up within the customer; reaching here is a bug, not bad input.
        raise ValueError(f"{payment_method.id} is not one of {customer.id}'s payment methods")


def _live_subscriptions(session: Session, customer: Customer, *, automatic_only: bool
                        ) -> list[Subscription]:
    query = select(Subscription).where(Subscription.customer_id == customer.id,
                                       Subscription.status.in_(LIVE_STATUSES))
    if automatic_only:
        query = query.where(Subscription.collection_method == "charge_automatically")
    # Their plan names are shown: items, prices and products come in the same query.
    query = query.options(joinedload(Subscription.items).joinedload(SubscriptionItem.price)
                          .joinedload(Price.product))
    return list(session.scalars(query.order_by(Subscription.created, Subscription.id)).unique())


def _removal_reason(subscriptions: list[Subscription]) -> str:
    """Why the card may not go: "your Pro and Team subscriptions are paid with it"."""
    names = []
    for subscription in subscriptions:
        for item in subscription.items:
            if item.price and item.price.product and item.price.product.name not in names:
                names.append(item.price.product.name)
    count = len(subscriptions)
    if not names:
        return ngettext("Add another card before removing this one: your current subscription "
                        "is paid with it",
                        "Add another card before removing this one: your current subscriptions "
                        "are paid with it", count)
    return ngettext("Add another card before removing this one: your %(plan_names)s "
                    "subscription is paid with it",
                    "Add another card before removing this one: your %(plan_names)s "
                    "subscriptions are paid with it", count,
                    plan_names=format_list(names, locale=current_locale()))


def _set_customer_default(session: Session, customer: Customer,
                          payment_method: PaymentMethod | None, *, now: datetime, actor: str,
                          ip_address: str | None) -> bool:
    new_id = payment_method.id if payment_method else None
    previous = customer.default_payment_method_id
    if previous == new_id:
        return False
    customer.default_payment_method_id = new_id
    raise_event(session, "customer.updated", now=now, actor=actor, customer_id=customer.id,
                object_id=customer.id, ip_address=ip_address,
                data={"invoice_settings": {"default_payment_method": new_id},
                      "previous_attributes": {
                          "invoice_settings": {"default_payment_method": previous}}})
    return True


def _set_subscription_default(session: Session, subscription: Subscription,
                              payment_method: PaymentMethod | None, *, now: datetime,
                              actor: str, ip_address: str | None) -> bool:
    new_id = payment_method.id if payment_method else None
    previous = subscription.default_payment_method_id
    if previous == new_id:
        return False
    subscription.default_payment_method_id = new_id
    raise_event(session, "customer.subscription.updated", now=now, actor=actor,
                customer_id=subscription.customer_id, object_id=subscription.id,
                ip_address=ip_address,
                data={"default_payment_method": new_id,
                      "previous_attributes": {"default_payment_method": previous}})
    return True


def _card_summary(method: PaymentMethod) -> dict:
    # Only what the customer's statement shows anyway: never a token, number or CVC.
    return {"type": "card", "brand": method.card_brand, "last4": method.card_last4,
            "exp_month": method.card_exp_month, "exp_year": method.card_exp_year}
