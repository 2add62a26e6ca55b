"""Fill a PostgreSQL database with a large portal: 100,000 customers, 150,000 subscriptions and
1,000,000 invoices with their lines and payments, by COPY, in minutes.

Prints a table (table, rows, seconds), the total and the database's size; asserts nothing.
The rows are what the app itself writes (ids in its format, numbered invoices, creation keys,
customer snapshots, line texts as the billing engine words them), so every customer page,
the billing engine and the API work on them. Everything comes from one seeded random
generator: the same --seed and --now give the same database.

    createdb -h 127.0.0.1 -U postgres bench_large
    PORTAL_SQLALCHEMY_DATABASE_URI=postgresql+psycopg://postgres@127.0.0.1:5432/bench_large \\
        .venv/bin/flask --app portal db upgrade
    .venv/bin/python bench/seed_large.py \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/bench_large [--scale 1.0]
        [--seed 12] [--now 2026-12-01T00:00:00Z] [--all-due | --due SHARE] [--reset]

Who is in it: customer N (1 <= N <= 100,000 at scale 1) is cust-N@example.com. Customers
with N % 100 == 1 (cust-1, cust-101, ...) are the heavy ones, 1%: a weekly subscription with
100-300 invoices, for deep invoice pages. Every other customer has 1-48 monthly invoices per
subscription; 2-3 cards; about 4% of subscriptions are past due with an open invoice (those of
customers with N % 25 == 3 always are), 5% ended. ``--all-due`` (for bench/billing_scale.py)
instead makes every subscription live with its period ending exactly at --now, so one
billing run at --now renews each of them once; ``--due 0.02`` does that for every 50th
subscription only (the others live, their periods ending after --now): a full-size database
with a billing run small enough to time.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL_SIZES = {"customer": 100_000, "subscription": 150_000, "invoice": 1_000_000}
INVOICE_PREFIX = "INV"
LOGIN_LINK_ID = "seed-large-login"
# The tables the seed fills; they must be empty (or --reset empties every table first).
SEEDED = ("customer", "payment_method", "product", "price", "tax_rate", "subscription",
          "subscription_item", "invoice", "invoice_line", "payment")

FIRST_NAMES = ("Jenny", "Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis",
               "Frances", "Edsger", "Radia", "Tim", "Hedy", "Donald", "Katherine", "Guido",
               "Sophie", "Niklaus", "Anita", "John", "Mary", "Carlos", "Yuki", "Amara", "Lars")
LAST_NAMES = ("Rosen", "Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson",
              "Liskov", "Ritchie", "Allen", "Dijkstra", "Perlman", "Berners-Lee", "Lamarr",
              "Knuth", "Johnson", "van Rossum", "Wilson", "Wirth", "Borg", "Backus", "Shaw",
              "Garcia", "Tanaka", "Okafor", "Nilsson")
# (country, currency, share, cities with (state, postal code))
PLACES = (
    ("US", "usd", 60, (("San Francisco", "CA", "94107"), ("New York", "NY", "10001"),
                       ("Austin", "TX", "73301"), ("Seattle", "WA", "98101"))),
    ("GB", "gbp", 15, (("London", None, "EC1A 1BB"), ("Manchester", None, "M1 1AE"))),
    ("DE", "eur", 15, (("Berlin", None, "10115"), ("München", None, "80331"))),
    ("FR", "eur", 10, (("Paris", None, "75001"), ("Lyon", None, "69001"))),
)
STREETS = ("Market Street", "High Street", "Hauptstraße", "Rue de Rivoli", "Main Street",
           "Elm Street", "Station Road", "Oak Avenue")
# Stripe's test cards that charge successfully, one of each per customer at most (the unique
# index allows one live copy of a card per customer).
CARDS = (("4242424242424242", "visa", "credit", "US"),
         ("5555555555554444", "mastercard", "credit", "US"),
         ("378282246310005", "amex", "credit", "US"),
         ("6011111111111117", "discover", "credit", "US"))
# name, unit label, monthly amounts per currency; weekly prices are a third of the monthly.
PLANS = (("Starter", None, {"usd": 900, "eur": 900, "gbp": 800}),
         ("Pro", None, {"usd": 2900, "eur": 2700, "gbp": 2400}),
         ("Business", None, {"usd": 9900, "eur": 9500, "gbp": 8500}))
ADDONS = (("Extra seats", "seat", {"usd": 1000, "eur": 900, "gbp": 800}),
          ("Priority support", None, {"usd": 4900, "eur": 4500, "gbp": 3900}))
TAX_RATES = (("GB", "VAT", 20), ("DE", "USt", 19))  # exclusive; FR and US customers pay none
CANCELLATION_FEEDBACK = ("too_expensive", "missing_features", "switched_service", "unused")

_B64_TO_ALNUM = bytes.maketrans(b"+/", b"xZ")


def make_id(rng: random.Random, prefix: str) -> str:
    """An id shaped like portal.ids.new_id (prefix, underscore, 24 letters and digits), but
    drawn from the seeded generator so a rerun makes the same ids."""
    return f"{prefix}_" + base64.b64encode(rng.randbytes(18)).translate(_B64_TO_ALNUM).decode()


@dataclass
class PriceRow:
    id: str
    product_id: str
    product_name: str
    unit_label: str | None
    unit_amount: int
    currency: str
    interval: str


@dataclass
class CustomerPlan:
    number: int
    id: str
    email: str
    name: str
    country: str
    currency: str
    state: str | None
    city: str
    postal_code: str
    line1: str
    cards: list[tuple] = field(default_factory=list)  # (id, number, brand, ...) first: default
    created: datetime | None = None
    snapshot: str = "{}"
    tax_rate: tuple | None = None  # (id, percentage)


@dataclass
class SubscriptionPlan:
    index: int
    id: str
    customer: CustomerPlan
    interval: str
    count: int
    status: str = "active"
    items: list[tuple] = field(default_factory=list)  # (item id, PriceRow, quantity)
    bounds: list[datetime] = field(default_factory=list)  # count + 1 period boundaries
    first_invoice: int = 0  # global index of its first invoice


def add_months(moment: datetime, months: int) -> datetime:
    from portal.billing.calc import add_months as calc_add_months

    return calc_add_months(moment, months)


class Seed:
    """The whole data set, planned in memory (customers, subscriptions, period boundaries)
    and written table by table; invoices, lines and payments are generated per subscription
    from a generator of its own, so each table's pass makes the same rows again."""

    def __init__(self, *, scale: float, seed: int, now: datetime, due: float = 0.0):
        self.scale, self.seed, self.now, self.due = scale, seed, now, due
        # Every n-th subscription is due at ``now`` (with --due); the rest as usual.
        self.due_every = max(1, round(1 / due)) if due > 0 else 0
        self.rng = random.Random(seed)
        self.n_customers = max(1, round(FULL_SIZES["customer"] * scale))
        self.n_subscriptions = max(self.n_customers, round(FULL_SIZES["subscription"] * scale))
        self.n_invoices = max(self.n_subscriptions, round(FULL_SIZES["invoice"] * scale))
        self.prices: dict[tuple, PriceRow] = {}
        self.products: list[tuple] = []
        self.tax_rates: list[tuple] = []
        self.customers: list[CustomerPlan] = []
        self.subscriptions: list[SubscriptionPlan] = []
        self.numbers: list[int] = []
        self._texts: dict = {}
        self._iso: dict = {}

    # ---- planning ---------------------------------------------------------------------------

    def plan(self) -> None:
        """Decide every customer, card, subscription and period; number the invoices."""
        self._plan_catalog()
        self._plan_customers()
        self._plan_subscriptions()
        self._number_invoices()

    def _plan_catalog(self) -> None:
        rng = self.rng
        for name, label, amounts in PLANS + ADDONS:
            product_id = make_id(rng, "prod")
            self.products.append((product_id, name, label))
            for currency, monthly in amounts.items():
                for interval, amount in (("month", monthly), ("week", monthly // 3)):
                    self.prices[(name, currency, interval)] = PriceRow(
                        make_id(rng, "price"), product_id, name, label, amount, currency,
                        interval)
        for country, display_name, percentage in TAX_RATES:
            self.tax_rates.append((make_id(rng, "txr"), country, display_name, percentage))

    def _plan_customers(self) -> None:
        rng = self.rng
        places = [place for place in PLACES for _ in range(place[2])]
        fingerprint_key = b"portal-test-gateway"  # the test gateway's, so cards match its own
        fingerprints = {number: hmac.new(fingerprint_key, number.encode(),
                                         hashlib.sha256).hexdigest()[:16]
                        for number, *_ in CARDS}
        rates = {country: (rate_id, percentage)
                 for rate_id, country, _, percentage in self.tax_rates}
        for number in range(1, self.n_customers + 1):
            country, currency, _, cities = rng.choice(places)
            city, state, postal = rng.choice(cities)
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            customer = CustomerPlan(
                number=number, id=make_id(rng, "cus"), email=f"cust-{number}@example.com",
                name=name, country=country, currency=currency, state=state, city=city,
                postal_code=postal, line1=f"{rng.randint(1, 400)} {rng.choice(STREETS)}",
                tax_rate=rates.get(country))
            n_cards = rng.choices((1, 2, 3), weights=(50, 35, 15))[0] + (number % 100 == 1)
            for card_number, brand, funding, card_country in rng.sample(CARDS, min(n_cards, 4)):
                customer.cards.append((
                    make_id(rng, "pm"), card_number, brand, funding, card_country,
                    fingerprints[card_number], rng.randint(1, 12),
                    self.now.year + rng.randint(1, 4), f"tok_test_ok_{rng.randbytes(8).hex()}"))
            self.customers.append(customer)

    def _plan_subscriptions(self) -> None:
        rng = self.rng
        owners = list(self.customers)
        for _ in range(self.n_subscriptions - self.n_customers):
            owners.append(self.customers[rng.randrange(self.n_customers)])
        owners.sort(key=lambda c: c.number)
        seen: set[int] = set()
        heavy_cap = max(1, int(0.4 * self.n_invoices))
        for index, customer in enumerate(owners):
            first = customer.number not in seen
            seen.add(customer.number)
            heavy = first and customer.number % 100 == 1
            sub = SubscriptionPlan(index=index, id=make_id(rng, "sub"), customer=customer,
                                   interval="week" if heavy else "month",
                                   count=min(rng.randint(100, 300), heavy_cap) if heavy else 0)
            plan_name = "Pro" if heavy else rng.choices(("Starter", "Pro", "Business"),
                                                        weights=(40, 45, 15))[0]
            items = [(plan_name, 1)]
            extra = rng.choices((0, 1, 2), weights=(50, 35, 15))[0]
            for addon, _, _ in ADDONS[:extra]:
                items.append((addon, rng.randint(1, 5) if addon == "Extra seats" else 1))
            sub.items = [(make_id(rng, "si"), self.prices[(name, customer.currency,
                                                           sub.interval)], quantity)
                         for name, quantity in items]
            roll = rng.random()
            if heavy:
                sub.status = "active"
            elif first and customer.number % 25 == 3:
                sub.status = "past_due"  # always, so a load test knows whom to send to pay
            elif self.due:
                sub.status = "active"
            else:
                sub.status = "canceled" if roll < 0.05 else "past_due" if roll < 0.06 \
                    else "active"
            self.subscriptions.append(sub)
        self._spread_invoices()
        offset = 0
        for sub in self.subscriptions:
            sub.first_invoice = offset
            offset += sub.count
            sub.bounds = self._bounds(sub)
        for customer_subs in _by_customer(self.subscriptions).values():
            customer = customer_subs[0].customer
            start = min(s.bounds[0] for s in customer_subs)
            customer.created = start - timedelta(days=rng.randint(0, 30),
                                                 minutes=rng.randint(0, 1439))
            customer.snapshot = json.dumps({
                "name": customer.name, "email": customer.email,
                "address": {"line1": customer.line1, "line2": None, "city": customer.city,
                            "state": customer.state, "postal_code": customer.postal_code,
                            "country": customer.country},
                "tax_ids": []}, ensure_ascii=False)

    def _spread_invoices(self) -> None:
        """Give the ordinary subscriptions the invoices the heavy ones left, each at least one,
        so the total is exactly the size asked for."""
        rng = self.rng
        ordinary = [s for s in self.subscriptions if s.count == 0]
        left = self.n_invoices - sum(s.count for s in self.subscriptions)
        if not ordinary:
            return
        mean = max(left / len(ordinary), 1.0)
        for sub in ordinary:
            sub.count = 1 + (min(int(rng.expovariate(1 / (mean - 1))), 47) if mean > 1 else 0)
        diff = left - sum(s.count for s in ordinary)
        while diff:
            sub = ordinary[rng.randrange(len(ordinary))]
            if diff > 0 and sub.count < 48:
                sub.count += 1
                diff -= 1
            elif diff < 0 and sub.count > 1:
                sub.count -= 1
                diff += 1

    def _bounds(self, sub: SubscriptionPlan) -> list[datetime]:
        """The period boundaries of the subscription's invoices, the current period last, as
        the engine counts them (from the anchor, the first period's start)."""
        rng, now, k = self.rng, self.now, sub.count
        due = bool(self.due_every) and sub.index % self.due_every == 0
        if sub.interval == "week":
            current = now - timedelta(weeks=1) if due else \
                now - timedelta(days=rng.randint(1, 6))
            anchor = current - timedelta(weeks=k - 1)
            return [anchor + timedelta(weeks=j) for j in range(k + 1)]
        if due:
            current = add_months(now, -1)
        else:
            current = now - timedelta(days=rng.randint(1, 25))
            if current.day > 28:  # a period that starts on the 29th-31st drifts in short months
                current -= timedelta(days=current.day - 28)
            if sub.status == "canceled":
                current = add_months(current, -rng.randint(1, 12))
        anchor = add_months(current, -(k - 1))
        bounds = [add_months(anchor, j) for j in range(k + 1)]
        if due:
            bounds[-1] = now
        return bounds

    def _number_invoices(self) -> None:
        """Invoice numbers in the order the invoices were made, as the app gives them."""
        keys = []
        for sub in self.subscriptions:
            for j in range(sub.count):
                keys.append((int(sub.bounds[j].timestamp()) << 21) | (sub.first_invoice + j))
        keys.sort()
        self.numbers = [0] * len(keys)
        mask = (1 << 21) - 1
        for rank, key in enumerate(keys, 1):
            self.numbers[key & mask] = rank

    # ---- the rows ---------------------------------------------------------------------------

    def customer_rows(self):
        for c in self.customers:
            yield (c.id, c.email, c.email.lower(), c.name, c.line1, c.city, c.state,
                   c.postal_code, c.country, "[]", c.currency, 0, False, c.created,
                   json.dumps({"seed": c.number}))

    CUSTOMER_COLUMNS = ("id", "email", "email_normalized", "name", "address_line1",
                        "address_city", "address_state", "address_postal_code",
                        "address_country", "preferred_locales", "currency", "balance",
                        "deleted", "created", "metadata")

    def card_rows(self):
        for c in self.customers:
            for n, (pm_id, _, brand, funding, country, fingerprint, month, year, token) \
                    in enumerate(c.cards):
                yield (pm_id, c.id, "card", brand, _last4(c, n), month, year, funding, country,
                       fingerprint, "test", token, c.name, c.created + timedelta(minutes=n + 1),
                       "{}")

    CARD_COLUMNS = ("id", "customer_id", "type", "card_brand", "card_last4", "card_exp_month",
                    "card_exp_year", "card_funding", "card_country", "fingerprint", "processor",
                    "processor_token", "billing_name", "created", "metadata")

    def subscription_rows(self):
        for s in self.subscriptions:
            c = s.customer
            start, end = s.bounds[-2], s.bounds[-1]
            ended = s.status == "canceled"
            yield (s.id, c.id, s.status, c.currency, start, end, s.bounds[0], False,
                   end - timedelta(days=9) if ended else None, end if ended else None,
                   "cancellation_requested" if ended else None,
                   CANCELLATION_FEEDBACK[s.index % 4] if ended else None,
                   "charge_automatically", c.cards[0][0], s.bounds[0], "{}", 1,
                   s.bounds[0])

    SUBSCRIPTION_COLUMNS = ("id", "customer_id", "status", "currency", "current_period_start",
                            "current_period_end", "billing_cycle_anchor",
                            "cancel_at_period_end", "canceled_at", "ended_at",
                            "cancellation_reason", "cancellation_feedback",
                            "collection_method", "default_payment_method_id", "created",
                            "metadata", "version", "updated")

    def item_rows(self):
        for s in self.subscriptions:
            for item_id, price, quantity in s.items:
                yield (item_id, s.id, price.id, quantity, s.bounds[0])

    ITEM_COLUMNS = ("id", "subscription_id", "price_id", "quantity", "created")

    def invoices_of(self, sub: SubscriptionPlan):
        """The subscription's invoices, oldest first: (invoice row, line rows, payment rows).
        Its own generator, so every pass over it makes the same ones."""
        rng = random.Random(self.seed * 1_000_003 + sub.index)
        c = sub.customer
        card = c.cards[0][0]
        rate_id, percentage = c.tax_rate or (None, 0)
        last = sub.count - 1
        iso = self.iso
        for j in range(sub.count):
            start, end = sub.bounds[j], sub.bounds[j + 1]
            start_text, end_text = iso(start), iso(end)
            invoice_id = make_id(rng, "in")
            lines, subtotal, tax = [], 0, 0
            for position, (item_id, price, quantity) in enumerate(sub.items):
                amount = price.unit_amount * quantity
                line_tax = (amount * percentage + 50) // 100
                subtotal += amount
                tax += line_tax
                lines.append((make_id(rng, "il"), invoice_id, position,
                              self._line_text(price, quantity, start, end), price.id, item_id,
                              quantity, price.unit_amount, amount, 0, line_tax,
                              rate_id if percentage else None, start_text, end_text, False))
            total = subtotal + tax
            roll = rng.random()
            if j == last:
                status = "open" if sub.status == "past_due" else "paid"
            else:
                status = "void" if roll < 0.015 else "uncollectible" if roll < 0.025 else "paid"
            retried = status == "paid" and rng.random() < 0.03
            payments = []
            failures = 4 if status == "uncollectible" else 1 if (status == "open" or retried) \
                else 0
            for attempt in range(1, failures + 1):
                at = iso(start + timedelta(days=(0, 3, 5, 7)[attempt - 1], minutes=1))
                payments.append((make_id(rng, "py"), f"{invoice_id}:attempt:{attempt}", c.id,
                                 invoice_id, card, total, c.currency, "failed", "card_declined",
                                 DECLINED, None, at, at))
            paid_at = None
            if status == "paid":
                attempt = failures + 1
                paid_at = iso(start + timedelta(days=3 if retried else 0, minutes=2))
                key = f"{invoice_id}:attempt:{attempt}"
                payments.append((make_id(rng, "py"), key, c.id, invoice_id, card, total,
                                 c.currency, "succeeded", None, None,
                                 "ch_test_" + hashlib.sha256(key.encode()).hexdigest()[:20],
                                 paid_at, paid_at))
            next_attempt = (iso(self.now + timedelta(days=rng.randint(1, 3), hours=2))
                            if status == "open" else None)
            invoice = (
                invoice_id, f"{INVOICE_PREFIX}-{self.numbers[sub.first_invoice + j]:04d}", c.id,
                sub.id, status, c.currency,
                "subscription_create" if j == 0 else "subscription_cycle",
                "charge_automatically", subtotal, 0, tax, total, total,
                total if status == "paid" else 0, start_text, end_text, start_text, start_text,
                start_text, paid_at,
                iso(start + timedelta(days=1)) if status == "void" else None,
                iso(start + timedelta(days=14)) if status == "uncollectible" else None,
                max(len(payments), 0), next_attempt, c.snapshot, "{}",
                f"{sub.id}:cycle:{start_text}", 0, 0)
            yield invoice, lines, payments

    def iso(self, moment: datetime) -> str:
        """``moment`` as COPY's text, remembered: most moments recur (periods start at
        midnight), and formatting each one anew is a good part of the seed's time."""
        text = self._iso.get(moment)
        if text is None:
            text = self._iso[moment] = moment.isoformat()
        return text

    INVOICE_COLUMNS = ("id", "number", "customer_id", "subscription_id", "status", "currency",
                       "billing_reason", "collection_method", "subtotal", "total_discount",
                       "tax", "total", "amount_due", "amount_paid", "period_start", "period_end",
                       "due_date", "created", "finalized_at", "paid_at", "voided_at",
                       "marked_uncollectible_at", "attempt_count", "next_payment_attempt",
                       "customer_snapshot", "metadata", "creation_key", "starting_balance",
                       "ending_balance")
    LINE_COLUMNS = ("id", "invoice_id", "position", "description", "price_id",
                    "subscription_item_id", "quantity", "unit_amount", "amount",
                    "discount_amount", "tax_amount", "tax_rate_id", "period_start",
                    "period_end", "proration")
    PAYMENT_COLUMNS = ("id", "idempotency_key", "customer_id", "invoice_id", "payment_method_id",
                       "amount", "currency", "status", "failure_code", "failure_message",
                       "processor_reference", "created", "completed_at")

    def invoice_rows(self):
        for sub in self.subscriptions:
            for invoice, _, _ in self.invoices_of(sub):
                yield invoice

    def line_rows(self):
        for sub in self.subscriptions:
            for _, lines, _ in self.invoices_of(sub):
                yield from lines

    def payment_rows(self):
        for sub in self.subscriptions:
            for _, _, payments in self.invoices_of(sub):
                yield from payments

    def _line_text(self, price: PriceRow, quantity: int, start: datetime, end: datetime) -> str:
        """The engine's own wording of a period line (describe_period_line), remembered."""
        key = (price.id, quantity, start, end)
        text = self._texts.get(key)
        if text is None:
            from types import SimpleNamespace

            from portal.billing.invoicing import describe_period_line

            stand_in = SimpleNamespace(
                unit_amount=price.unit_amount, currency=price.currency,
                product=SimpleNamespace(name=price.product_name, unit_label=price.unit_label))
            text = self._texts[key] = describe_period_line(quantity, stand_in, start, end)
        return text


DECLINED = "Your card was declined. Try another card or contact your bank."


def _by_customer(subscriptions):
    grouped: dict[int, list] = {}
    for sub in subscriptions:
        grouped.setdefault(sub.customer.number, []).append(sub)
    return grouped


def _last4(customer: CustomerPlan, n: int) -> str:
    return customer.cards[n][1][-4:]


# ---- writing ---------------------------------------------------------------------------------

def copy_rows(conn, table: str, columns, rows) -> int:
    """COPY ``rows`` into ``table``; the number of rows."""
    count = 0
    with conn.cursor() as cursor, cursor.copy(
            f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def small_tables(app, seed: Seed) -> None:
    """The merchant's rows through the app's own models: branding, the default portal
    configuration with a login link, the catalog, tax rates and the invoice numbering."""
    from portal.catalog.models import Price, Product, TaxRate
    from portal.extensions import db
    from portal.invoices.models import InvoiceNumberSequence
    from portal.portal_settings.models import LoginLink
    from portal.portal_settings.operations import default_configuration, get_branding

    now = seed.now
    session = db.session
    branding = get_branding(session)
    branding.business_name = "Bench Cloud"
    branding.invoice_prefix = INVOICE_PREFIX
    branding.support_email = "support@bench-cloud.example"
    config = default_configuration(session)
    config.login_page_enabled = True
    if session.get(LoginLink, LOGIN_LINK_ID) is None:
        session.add(LoginLink(id=LOGIN_LINK_ID, active=True, configuration_id=config.id,
                              created=now))
    created = now - timedelta(days=365 * 7)
    for product_id, name, label in seed.products:
        session.add(Product(id=product_id, name=name, unit_label=label, active=True,
                            created=created, metadata_={}))
    session.flush()
    for price in seed.prices.values():
        session.add(Price(id=price.id, product_id=price.product_id,
                          unit_amount=price.unit_amount, currency=price.currency,
                          recurring_interval=price.interval, recurring_interval_count=1,
                          nickname=f"{price.product_name} {price.interval}ly",
                          tax_behavior="exclusive", active=True, created=created,
                          metadata_={}))
    for rate_id, country, display_name, percentage in seed.tax_rates:
        session.add(TaxRate(id=rate_id, display_name=display_name, percentage=percentage,
                            inclusive=False, country=country, active=True, created=created,
                            metadata_={}))
    sequence = session.get(InvoiceNumberSequence, INVOICE_PREFIX)
    if sequence is None:
        sequence = InvoiceNumberSequence(prefix=INVOICE_PREFIX)
        session.add(sequence)
    sequence.next_value = seed.n_invoices + 1
    session.commit()


def seed_database(database: str, *, scale: float, seed_value: int, now: datetime,
                  due: float = 0.0, reset: bool = False, out=print) -> list[tuple]:
    """Plan and write the data set into ``database``; the (table, rows, seconds) it took."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from portal import create_app
    from portal.extensions import db

    url = make_url(database)
    if url.get_backend_name() != "postgresql":
        raise SystemExit("seed_large.py writes with PostgreSQL's COPY: give a postgresql URL")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
                      "SECRET_KEY": "seed-large-formats-text-only-0123456789abcdef",
                      "MAIL_BACKEND": "console"})
    timings: list[tuple] = []
    with app.app_context():
        with db.engine.begin() as conn:
            if reset:
                tables = [t.name for t in db.metadata.sorted_tables]
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                                  + " RESTART IDENTITY CASCADE"))
            busy = [t for t in SEEDED
                    if conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{t}")')).scalar()]  # noqa: S608 (names from SEEDED)
        if busy:
            raise SystemExit(f"seed_large.py fills an empty database; {', '.join(busy)} "
                             "already hold rows (use --reset to empty every table first)")

        started = time.perf_counter()
        seed = Seed(scale=scale, seed=seed_value, now=now, due=due)
        seed.plan()
        timings.append(("(planning in memory)", None, time.perf_counter() - started))

        mark = time.perf_counter()
        small_tables(app, seed)
        timings.append(("product, price, tax_rate, branding, configuration",
                        len(seed.products) + len(seed.prices) + len(seed.tax_rates),
                        time.perf_counter() - mark))

        raw = db.engine.raw_connection()
        try:
            conn = raw.driver_connection
            steps = [
                ("customer", seed.CUSTOMER_COLUMNS, seed.customer_rows),
                ("payment_method", seed.CARD_COLUMNS, seed.card_rows),
                ("subscription", seed.SUBSCRIPTION_COLUMNS, seed.subscription_rows),
                ("subscription_item", seed.ITEM_COLUMNS, seed.item_rows),
                ("invoice", seed.INVOICE_COLUMNS, seed.invoice_rows),
                ("invoice_line", seed.LINE_COLUMNS, seed.line_rows),
                ("payment", seed.PAYMENT_COLUMNS, seed.payment_rows),
            ]
            # One transaction: the secondary indexes and the constraints are set aside while
            # the rows stream in and built (and checked, every row) once at the end, which is
            # much faster than keeping them up row by row; a failure leaves nothing behind.
            conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
            mark = time.perf_counter()
            restore = _set_aside_indexes_and_constraints(conn, [table for table, _, _ in steps])
            timings.append((f"(set aside {len(restore)} indexes and constraints)", None,
                            time.perf_counter() - mark))
            for table, columns, rows in steps:
                mark = time.perf_counter()
                count = copy_rows(conn, table, columns, rows())
                if table == "payment_method":
                    # The customer row came first (the card points at it); now its default.
                    _set_default_cards(conn, seed)
                timings.append((table, count, time.perf_counter() - mark))
                out(f"  {table}: {count:,} rows in {timings[-1][2]:.1f} s", file=sys.stderr)
            mark = time.perf_counter()
            for statement in restore:
                conn.execute(statement)
            timings.append(("indexes built, unique and foreign keys checked", None,
                            time.perf_counter() - mark))
            out(f"  indexes and constraints: {timings[-1][2]:.1f} s", file=sys.stderr)
            mark = time.perf_counter()
            conn.commit()
            # Vacuumed as well as analyzed: a table that has only ever been loaded has no
            # visibility map yet, and index-only scans would read the heap until autovacuum.
            conn.autocommit = True
            conn.execute("VACUUM (ANALYZE)")
            conn.autocommit = False
            timings.append(("commit, VACUUM (ANALYZE)", None, time.perf_counter() - mark))
        finally:
            raw.close()
        db.engine.dispose()
    return timings


def _set_aside_indexes_and_constraints(conn, tables: list[str]) -> list[str]:
    """Drop the foreign keys, unique constraints and secondary indexes of ``tables`` (primary
    keys stay); the statements that put each back exactly as it was, in order."""
    constraints = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype "
        "FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('f', 'u') "
        "ORDER BY contype, conname", (tables,)).fetchall()
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY 1", (tables,)).fetchall()
    restore = []
    for table, name, _, _ in constraints:  # foreign keys first, then the unique ones
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, definition in indexes:
        conn.execute(f"DROP INDEX {name}")
        restore.append(definition)
    for table, name, definition, _ in reversed(constraints):  # unique ones, then foreign keys
        restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    return restore


def _set_default_cards(conn, seed: Seed) -> None:
    with conn.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE seed_default_card (customer_id varchar(40), "
                       "payment_method_id varchar(40)) ON COMMIT DROP")
        with cursor.copy("COPY seed_default_card FROM STDIN") as copy:
            for c in seed.customers:
                copy.write_row((c.id, c.cards[0][0]))
        cursor.execute("UPDATE customer SET default_payment_method_id = d.payment_method_id "
                       "FROM seed_default_card d WHERE customer.id = d.customer_id")


def database_size(database: str) -> int:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database)
    with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                         password=url.password, dbname=url.database) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def parse_now(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True,
                        help="postgresql+psycopg://user@host:port/name, schema already upgraded")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="1.0: the full sizes; 0.001: 100 customers, 1,000 invoices")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--now", type=parse_now, default=None,
                        help="the moment the data set is 'now' (default: today 00:00 UTC)")
    parser.add_argument("--all-due", action="store_true",
                        help="every subscription live, its period ending at --now")
    parser.add_argument("--due", type=float, default=0.0,
                        help="like --all-due for this share of the subscriptions (every n-th); "
                             "the others live, their periods ending after --now")
    parser.add_argument("--reset", action="store_true", help="empty every table first")
    args = parser.parse_args()
    now = args.now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    started = time.perf_counter()
    timings = seed_database(args.database, scale=args.scale, seed_value=args.seed, now=now,
                            due=1.0 if args.all_due else args.due, reset=args.reset)
    total = time.perf_counter() - started
    size = database_size(args.database)
    print(f"seed_large.py --scale {args.scale:g} --seed {args.seed} --now {now.isoformat()}"
          f"{' --all-due' if args.all_due else f' --due {args.due:g}' if args.due else ''}")
    print()
    print(f"| {'table':<50} | {'rows':>11} | {'seconds':>8} |")
    print(f"|{'-' * 52}|{'-' * 12}:|{'-' * 9}:|")
    for table, rows, seconds in timings:
        shown = f"{rows:,}" if rows is not None else ""
        print(f"| {table:<50} | {shown:>11} | {seconds:>8.1f} |")
    rows = sum(r for _, r, _ in timings if r)
    print(f"| {'total':<50} | {rows:>11,} | {total:>8.1f} |")
    print()
    print(f"database size: {size / 2**20:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
