"""What the dashboard's customer pages read: the searchable list, one customer with their
subscriptions, invoices and cards, and the prices a subscription can be started on.

Reads only. Each page is a fixed number of queries however many rows it shows: the list is one
query for its rows (the subscription counts are subqueries of it) plus one count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from portal.catalog.models import Price, Product
from portal.customers.models import Customer, normalize_email
from portal.customers.operations import customers_with_email
from portal.invoices.models import Invoice
from portal.invoices.operations import attached_payment_methods
from portal.login.operations import choose_customer
from portal.payments.models import PaymentMethod
from portal.subscriptions.models import Subscription
from portal.subscriptions.operations import customer_subscriptions

PAGE_SIZE = 25
INVOICES_SHOWN = 20
MAX_QUERY_LENGTH = 200
# The order a row's subscription summary names statuses in: what needs the merchant first.
STATUS_ORDER = ("past_due", "unpaid", "incomplete", "active", "trialing", "paused", "canceled")
_STATUS_WORDS = {"past_due": "past due"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_query(value: str | None) -> str:
    """A search as typed, made safe to send: control characters (PostgreSQL refuses NUL)
    become spaces, runs of spaces one, and it is cut to a length no real search needs."""
    value = _CONTROL.sub(" ", value or "")
    return " ".join(value.split())[:MAX_QUERY_LENGTH]


@dataclass(frozen=True)
class CustomerRow:
    customer: Customer
    counts: dict[str, int]

    @property
    def subscription_summary(self) -> str:
        """"1 past due, 2 active", or "No subscriptions"."""
        parts = [f"{self.counts[status]} {_STATUS_WORDS.get(status, status)}"
                 for status in STATUS_ORDER if self.counts.get(status)]
        return ", ".join(parts) if parts else "No subscriptions"


@dataclass(frozen=True)
class CustomerListPage:
    rows: list[CustomerRow]
    total: int
    page: int
    pages: int
    query: str

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _search(query: str):
    """Email or name containing ``query``, ignoring case (emails are stored lower-cased in
    ``email_normalized``; names are compared lower-cased by the database)."""
    needle = query.lower()
    return or_(Customer.email_normalized.contains(normalize_email(query), autoescape=True),
               func.lower(Customer.name).contains(needle, autoescape=True))


def customer_list_page(session: Session, *, query: str = "", page: int = 1,
                       per_page: int = PAGE_SIZE) -> CustomerListPage:
    """One page of customers, newest first, those matching ``query`` when there is one; a page
    past the last shows the last."""
    conditions = [Customer.deleted.is_not(True)]
    if query:
        conditions.append(_search(query))
    total = session.scalar(select(func.count(Customer.id)).where(*conditions)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    counts = [select(func.count(Subscription.id))
              .where(Subscription.customer_id == Customer.id, Subscription.status == status)
              .correlate(Customer).scalar_subquery().label(status)
              for status in STATUS_ORDER]
    rows = []
    if total:
        result = session.execute(
            select(Customer, *counts).where(*conditions)
            .order_by(Customer.created.desc(), Customer.id.desc())
            .limit(per_page).offset((page - 1) * per_page))
        rows = [CustomerRow(row[0], dict(zip(STATUS_ORDER, row[1:], strict=True)))
                for row in result]
    return CustomerListPage(rows=rows, total=total, page=page, pages=pages, query=query)


@dataclass(frozen=True)
class CustomerDetail:
    customer: Customer
    subscriptions: list[Subscription]
    invoices: list[Invoice]
    more_invoices: bool
    payment_methods: list[PaymentMethod]
    # Customers who share this one's email address (this one included), newest first, and
    # the one the login link signs that address in as.
    same_email: list[Customer] = field(default_factory=list)
    signs_in_as: Customer | None = None

    @property
    def default_card(self) -> PaymentMethod | None:
        return next((m for m in self.payment_methods
                     if m.id == self.customer.default_payment_method_id), None)

    @property
    def others_with_email(self) -> list[Customer]:
        return [c for c in self.same_email if c.id != self.customer.id]


def find_customer(session: Session, customer_id: str) -> Customer | None:
    """The customer with this id, or None."""
    return session.get(Customer, customer_id)


def customer_detail(session: Session, customer: Customer) -> CustomerDetail:
    """Everything the customer's page shows, each list that customer's own."""
    invoices = list(session.scalars(
        select(Invoice).where(Invoice.customer_id == customer.id)
        .order_by(Invoice.created.desc(), Invoice.id.desc()).limit(INVOICES_SHOWN + 1)).all())
    same_email = customers_with_email(session, customer.email) if customer.email else []
    signs_in_as = choose_customer(session, customer.email) if len(same_email) > 1 else (
        customer if customer.email and not customer.deleted else None)
    return CustomerDetail(
        customer=customer, subscriptions=customer_subscriptions(session, customer),
        invoices=invoices[:INVOICES_SHOWN], more_invoices=len(invoices) > INVOICES_SHOWN,
        payment_methods=attached_payment_methods(session, customer.id),
        same_email=same_email, signs_in_as=signs_in_as)


def price_options(session: Session) -> list[Price]:
    """The prices a subscription can be started on: active, recurring, of an active product;
    by product name, then currency and amount."""
    return list(session.scalars(
        select(Price).join(Product, Product.id == Price.product_id)
        .where(Price.active.is_(True), Price.recurring_interval.is_not(None),
               Product.active.is_(True))
        .options(joinedload(Price.product))
        .order_by(Product.name, Price.currency, Price.unit_amount, Price.id)).all())
