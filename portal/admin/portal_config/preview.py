"""The portal as a customer would see it, for the dashboard, without signing anyone in.

The pages are the customer pages themselves: the same templates (a designer's overrides
included), drawn by the customer views' own page builders (``_render_detail``,
``_confirm_page`` ...) with the configuration in force. Only the overview and the list of
subscriptions are assembled here, since their views fetch by the signed-in customer. The
customer is a real one the merchant picks, or a sample made in memory that is never added to
the database session.

The HTML that comes back is then made inert (``make_inert``): links between the previewed
pages lead to the preview of that page, every other link goes nowhere, forms lose their
action and htmx attributes, their controls are disabled, and scripts are dropped. Nothing in
a preview can change anything for anyone.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

from flask import current_app, g, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, NotFound

from portal.billing.calc import period_boundary
from portal.catalog.models import Price, Product
from portal.customers import views as customer_views
from portal.customers.models import Customer
from portal.customers.operations import editable_sections
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.payments.models import PaymentMethod
from portal.portal_settings.models import PortalConfiguration
from portal.request_context import configuration_for_request, set_sign_in
from portal.subscriptions import operations as subscription_ops
from portal.subscriptions import views as subscription_views
from portal.subscriptions.models import Subscription, SubscriptionItem

SAMPLE = "sample"
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as portal.request_guard takes ids
SAMPLE_SUBSCRIPTION = "sub_sample"
SAMPLE_ENDING_SUBSCRIPTION = "sub_sample_ending"

# Which previewed page each customer page is, and the words the dashboard uses for it.
PAGES = {
    "overview": "Account overview",
    "subscriptions": "Subscriptions",
    "subscription": "A subscription",
    "cancel": "Cancelling a subscription",
    "cancel-confirm": "Confirming a cancellation",
    "change": "Changing plan",
    "billing": "Billing information",
}
_PAGE_OF_ENDPOINT = {
    "customers.overview": "overview",
    "subscriptions.subscription_list": "subscriptions",
    "subscriptions.subscription_detail": "subscription",
    "subscriptions.cancel_offers": "cancel",
    "subscriptions.confirm_cancel": "cancel-confirm",
    "subscriptions.change_plan": "change",
    "customers.billing_information": "billing",
}
# The customer blueprints whose template helpers (price_text, card_label ...) their pages use;
# Flask gives a blueprint's context processors only to its own requests.
_CUSTOMER_BLUEPRINTS = ("customers", "subscriptions", "invoices", "payments")


# ---- whose portal ---------------------------------------------------------------------------

@dataclass
class PreviewCustomer:
    """Who the preview shows the portal to, with what their overview lists."""

    customer: Customer
    subscriptions: list[Subscription]
    payment_method: PaymentMethod | None = None
    invoices: list[Invoice] = field(default_factory=list)
    sample: bool = False

    @property
    def key(self) -> str:
        return SAMPLE if self.sample else self.customer.id

    @property
    def label(self) -> str:
        if self.sample:
            return "a sample customer"
        return self.customer.name or self.customer.email or self.customer.id

    def subscription(self, subscription_id: str | None) -> Subscription | None:
        """The subscription asked for, else the first that has not ended."""
        chosen = next((s for s in self.subscriptions if s.id == subscription_id), None)
        return chosen or next((s for s in self.subscriptions if s.status != "canceled"), None)


def real_customer(session: Session, customer_id: str) -> PreviewCustomer | None:
    """A real customer's portal as they would see it now; None for an unknown or deleted one,
    or anything that is not an id's shape (PostgreSQL refuses a NUL, for one)."""
    if not _ID_SHAPE.fullmatch(customer_id):
        return None
    customer = session.get(Customer, customer_id)
    if customer is None or customer.deleted:
        return None
    invoices = session.scalars(
        select(Invoice).where(Invoice.customer_id == customer.id, Invoice.status != "draft")
        .order_by(Invoice.created.desc(), Invoice.id.desc()).limit(3)).all()
    method = None
    if customer.default_payment_method_id:
        method = session.get(PaymentMethod, customer.default_payment_method_id)
        if method is None or method.customer_id != customer.id or method.detached_at:
            method = None
    return PreviewCustomer(customer, subscription_ops.customer_subscriptions(session, customer),
                           method, list(invoices))


def _sample_prices(session: Session, config: PortalConfiguration) -> list[Price]:
    """Prices for the sample's plans: the dearest one customers may switch from (so a "Change
    plan" button shows when switching is on, and a cheaper retention price is an offer), else
    any active recurring price. Empty when the catalogue has none."""
    listed = [p for e in config.subscription_update_products or [] if isinstance(e, dict)
              for p in (e.get("prices") or []) if isinstance(p, str)]
    query = (select(Price).join(Product).where(Price.active.is_(True), Product.active.is_(True),
                                               Price.recurring_interval.is_not(None)))
    prices = session.scalars(query.where(Price.id.in_(listed))).all() if listed else []
    prices = list(prices) or list(session.scalars(query.order_by(Price.created).limit(50)))
    downgrade = session.get(Price, config.retention_downgrade_price_id) \
        if config.retention_downgrade_price_id else None
    if downgrade is not None:
        prices = [p for p in prices if p.currency == downgrade.currency] or prices
    return sorted(prices, key=lambda p: (-subscription_ops.yearly_amount(p), p.id))


def sample_customer(session: Session, config: PortalConfiguration, now: datetime
                    ) -> PreviewCustomer:
    """A made-up customer with an active subscription, one set to end, a card and two paid
    invoices. Built in memory and never added to the session: nothing is written."""
    customer = Customer(id="cus_sample", name="Sam Sample", phone="+1 415 555 0100",
                        address_line1="510 Townsend St", address_city="San Francisco",
                        address_state="CA", address_postal_code="94103", address_country="US",
                        balance=0, deleted=False, preferred_locales=[], metadata_={},
                        created=now - timedelta(days=200))
    customer.set_email("sam.sample@example.com")
    customer.tax_ids = []
    prices = _sample_prices(session, config)
    if not prices:
        product = Product(id="prod_sample", name="Sample plan", active=True, metadata_={})
        prices = [Price(id="price_sample", product=product, unit_amount=2900, currency="usd",
                        recurring_interval="month", recurring_interval_count=1, active=True,
                        metadata_={})]
    method = PaymentMethod(id="pm_sample", customer_id=customer.id, type="card",
                           card_brand="visa", card_last4="4242", card_exp_month=12,
                           card_exp_year=now.year + 2, processor="test", metadata_={},
                           created=now)
    customer.default_payment_method_id = method.id

    def subscription(sub_id: str, price: Price, **fields) -> Subscription:
        start = now - timedelta(days=12)
        end = period_boundary(start, price.recurring_interval, price.recurring_interval_count, 1)
        sub = Subscription(id=sub_id, customer=customer, customer_id=customer.id,
                           status="active", currency=price.currency, current_period_start=start,
                           current_period_end=end, billing_cycle_anchor=start,
                           cancel_at_period_end=False, collection_method="charge_automatically",
                           default_payment_method_id=method.id, created=start - timedelta(days=90),
                           metadata_={}, pending_update=None, version=1, **fields)
        sub.items = [SubscriptionItem(id=f"si_{sub_id}", price=price, quantity=1, created=start)]
        return sub

    active = subscription(SAMPLE_SUBSCRIPTION, prices[0])
    ending = subscription(SAMPLE_ENDING_SUBSCRIPTION, prices[-1], canceled_at=now - timedelta(days=2))
    ending.cancel_at_period_end = True
    ending.cancel_at = ending.current_period_end
    price = prices[0]
    invoices = [Invoice(id=f"in_sample{n}", number=f"SAMPLE-000{3 - n}", customer_id=customer.id,
                        status="paid", currency=price.currency, subtotal=price.unit_amount,
                        total=price.unit_amount, amount_due=price.unit_amount,
                        amount_paid=price.unit_amount, created=now - timedelta(days=12 + 30 * n),
                        finalized_at=now - timedelta(days=12 + 30 * n), customer_snapshot={},
                        metadata_={}) for n in (0, 1)]
    return PreviewCustomer(customer, [active, ending], method, invoices, sample=True)


# ---- drawing a page ------------------------------------------------------------------------

class Unavailable(Exception):
    """A page the customer cannot open under this configuration (it would answer 404), or
    one this customer has nothing to show on; the message says which."""


def customer_template_helpers() -> dict:
    """The customer blueprints' template helpers, for their templates drawn from here."""
    helpers: dict = {}
    for name in _CUSTOMER_BLUEPRINTS:
        for processor in current_app.template_context_processors.get(name, ()):
            helpers.update(processor())
    return helpers


def _body(response) -> str:
    return response.get_data(as_text=True)


def draw_page(who: PreviewCustomer, page: str, subscription_id: str | None,
              now: datetime) -> str:
    """The customer page ``page`` as ``who`` would see it; Unavailable when they could not."""
    # Nobody is signed in for the preview, even when this browser also holds a customer's
    # sign-in: the configuration is the default one, and the email counts as not changeable,
    # as for a customer who came through the login link.
    set_sign_in(None)
    g.portal_preview = True
    configuration = configuration_for_request()
    customer = who.customer
    if page == "overview":
        subscriptions = [s for s in who.subscriptions if s.status != "canceled"]
        return render_template(
            "customers/overview.html", customer=customer, subscriptions=subscriptions,
            invoices=who.invoices if configuration.invoice_history_enabled else [],
            payment_method=who.payment_method, now=now,
            editable=editable_sections(configuration, None),
            **customer_views._display_helpers())
    if page == "subscriptions":
        return render_template(
            subscription_views.LIST_PAGE, customer=customer, subscriptions=who.subscriptions,
            now=now, upcoming=subscription_ops.upcoming_invoices(
                db.session, customer, who.subscriptions, now))
    if page == "billing":
        return _body(customer_views._billing_page(customer))
    subscription = who.subscription(subscription_id)
    if subscription is None:
        label = who.label
        raise Unavailable(f"{label[:1].upper()}{label[1:]} has no subscription to show here.")
    if page == "change":
        return _body(subscription_views._change_page(customer, subscription))
    if page in ("cancel", "cancel-confirm"):
        if not configuration.subscription_cancel_enabled:
            raise Unavailable("Customers cannot cancel here: cancelling is switched off, so "
                              "no subscription shows a Cancel button and the cancel pages do "
                              "not exist.")
        refusal = subscription_ops.cancel_refusal(subscription, now, configuration)
        if refusal:
            return _body(subscription_views._render_detail(customer, subscription, error=refusal))
        offers = subscription_ops.retention_offers(db.session, subscription,
                                                   now=now, configuration=configuration)
        if page == "cancel" and offers:
            return _body(subscription_views._offers_page(customer, subscription, offers))
        return _body(subscription_views._confirm_page(customer, subscription))
    return _body(subscription_views._render_detail(customer, subscription))


def draw_unavailable(message: str) -> str:
    """A customer-looking page that says why there is nothing to preview."""
    return render_template("admin/portal_config/preview_unavailable.html", message=message)


def draw(who: PreviewCustomer, page: str, subscription_id: str | None, now: datetime) -> str:
    """``draw_page``, with a page that would answer 404 to the customer explained instead."""
    try:
        return draw_page(who, page, subscription_id, now)
    except Unavailable as unavailable:
        return draw_unavailable(str(unavailable))
    except NotFound:
        return draw_unavailable("Customers would get a 'page not found' here: this part of "
                                "the portal is switched off.")


# ---- making it inert -----------------------------------------------------------------------

def preview_href(href: str, who: PreviewCustomer) -> str | None:
    """Where a link of the customer's page leads in the preview: the preview of that page, or
    None (nowhere) for anything else, from another site's address to a PDF."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    try:
        endpoint, args = current_app.url_map.bind("preview").match(parts.path, method="GET")
    except HTTPException:
        return None
    page = _PAGE_OF_ENDPOINT.get(endpoint)
    if page is None:
        return None
    values = {"customer": who.key, "page": page}
    if args.get("subscription_id"):
        values["subscription"] = args["subscription_id"]
    return url_for("admin_portal.preview_frame", **values)


_CONTROLS = {"button", "input", "select", "textarea"}


class _Inert(HTMLParser):
    """Copies a page, rewriting the tags that could act; text and entities pass unchanged."""

    def __init__(self, who: PreviewCustomer, banner: str):
        super().__init__(convert_charrefs=False)
        self.who, self.banner = who, banner
        self.out: list[str] = []
        self.in_script = False

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
        kept = []
        for name, value in attrs:
            if name.startswith("hx-") or name == "autofocus":
                continue  # no htmx runs here, and the frame must not take the page's focus
            if tag == "form" and name in ("action", "method"):
                continue
            if tag == "a" and name == "href":
                if value and value.startswith("#"):
                    kept.append((name, value))
                    continue
                target = preview_href(value or "", self.who)
                if target is None:
                    kept.append(("aria-disabled", "true"))
                    if value and urlsplit(value).scheme in ("http", "https"):
                        kept.append(("title", f"Goes to {value}"))
                    continue
                kept.append((name, target))
                kept.append(("target", "_self"))
                continue
            kept.append((name, value))
        if tag in _CONTROLS:
            kept.append(("disabled", None))
        return kept

    def _start(self, tag: str, attrs, closed: bool) -> None:
        if tag == "script":
            self.in_script = not closed
            return
        if tag == "input" and dict(attrs).get("name") == "csrf_token":
            return  # the staff member's own token has no place in a customer's page
        rendered = "".join(f" {name}" if value is None else f' {name}="{html.escape(value)}"'
                           for name, value in self._attrs(tag, attrs))
        self.out.append(f"<{tag}{rendered}{' /' if closed else ''}>")
        if tag == "title":
            self.out.append("Preview: ")
        if tag == "body":
            self.out.append(self.banner)

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, closed=False)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, closed=True)

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False
            return
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        if not self.in_script:
            self.out.append(data)

    def handle_entityref(self, name):
        self.out.append(f"&{name};")

    def handle_charref(self, name):
        self.out.append(f"&#{name};")

    def handle_comment(self, data):
        pass  # nothing a customer reads, and a conditional comment could carry markup

    def handle_decl(self, decl):
        self.out.append(f"<!{decl}>")

    def unknown_decl(self, data):
        pass

    def handle_pi(self, data):
        pass


def make_inert(page_html: str, who: PreviewCustomer, banner: str) -> str:
    """The page with every way to act removed and ``banner`` (trusted HTML) first in <body>."""
    parser = _Inert(who, banner)
    parser.feed(page_html)
    parser.close()
    return "".join(parser.out)
