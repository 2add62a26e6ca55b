"""The portal configuration form: one form for every section, shaped after the columns of
``PortalConfiguration``. The form reads what was typed; the rules (safe URLs, the headline's
length, proration only with immediate cancellation, real products and prices) live in
``portal.portal_settings.operations.update_configuration``, which the API will call too, and
its refusals are put back by the fields they belong to (``show_refusal``)."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    URLField,
)
from wtforms.widgets import CheckboxInput, ListWidget

from portal.forms import BaseForm, is_ascii_digits
from portal.portal_settings import operations as settings
from portal.portal_settings.models import (
    ALLOWED_CUSTOMER_UPDATES,
    CANCELLATION_REASONS,
    PortalConfiguration,
)
from portal.subscriptions.operations import CANCELLATION_REASON_LABELS

CUSTOMER_UPDATE_LABELS = {
    "address": "Billing address",
    "email": "Email address",
    "name": "Name",
    "phone": "Phone number",
    "shipping": "Shipping address",
    "tax_id": "Tax IDs",
}
CANCEL_MODE_LABELS = {
    "at_period_end": "At the end of the billing period: they keep the subscription until "
                     "then, and can renew it",
    "immediately": "Immediately",
}
CANCEL_PRORATION_LABELS = {
    "none": "No credit",
    "create_prorations": "Credit the unused time to the customer's balance (only when "
                         "cancelled immediately)",
}
UPDATE_LABELS = {
    "price": "The price: switch to another of the prices chosen below",
    "quantity": "The quantity, within the limits set below",
    "promotion_code": "Promotion codes (kept for Stripe compatibility: this portal does not "
                      "ask for one yet)",
}
UPDATE_PRORATION_LABELS = {
    "none": "No proration: the new price applies from the next invoice",
    "create_prorations": "Prorate: the difference for the rest of the period goes on the "
                         "next invoice",
    "always_invoice": "Prorate and invoice the difference at once",
}
SCHEDULE_LABELS = {
    "decreasing_item_amount": "the change makes the plan cost less (a downgrade)",
    "shortening_interval": "the change shortens the billing interval (yearly to monthly)",
}
TRIAL_LABELS = {
    "continue_trial": "The trial continues, and ends on the new plan",
    "end_trial": "The trial ends, and the new plan is billed at once",
}
try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) tuples
    def SelectChoice(value, label):  # noqa: N802
        return (value, label)


def _choices(pairs) -> list:
    """(value, label) pairs as the options WTForms wants."""
    return [SelectChoice(value, label) for value, label in pairs]


def option_pairs(field) -> list[tuple[str, str]]:
    """A field's options as (value, label), for templates that draw them one by one."""
    return [(c.value, c.label) if hasattr(c, "value") else (c[0], c[1])
            for c in field.choices or []]


PAUSE_CHOICES = [("0", "No pause")] + [
    (str(n), f"Up to {n} month{'s' if n != 1 else ''}")
    for n in range(1, settings.RETENTION_PAUSE_MAX_MONTHS + 1)]


class CheckboxesField(SelectMultipleField):
    """Several checkboxes, one value each. Choices are not checked here: the operation says
    plainly what is wrong with a value that is not one of them."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, validate_choice=False, **kwargs)


def _radio(label, labels: dict[str, str]):
    return RadioField(label, choices=_choices(labels.items()), validate_choice=False)


class ProductEntryForm(BaseForm):
    """One product customers may switch between: its prices and its quantity limits. The
    product's id travels with the entry, so a product added meanwhile cannot shift them."""

    class Meta:
        csrf = False

    product = HiddenField()
    selected = BooleanField("Customers can switch to this product")
    prices = CheckboxesField("Prices customers can switch to")
    quantity_enabled = BooleanField("Customers can change the quantity")
    minimum = StringField("Minimum quantity")
    maximum = StringField("Maximum quantity")

    def number(self, name: str, default: int):
        """The whole number typed in ``name``, ``default`` when empty, or None (with the
        field's error) when it is not one."""
        field = getattr(self, name)
        value = (field.data or "").strip()
        if not value:
            return default
        if not is_ascii_digits(value) or len(value) > 6:
            field.errors = [*field.errors, f"Enter the {field.label.text.lower()} as a whole "
                                           "number, like 1"]
            return None
        return int(value)


class PortalConfigurationForm(BaseForm):
    """Every setting of the portal configuration page, in the page's order."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            # The list of products takes no filters or validators of its own: each entry is a
            # BaseForm, whose fields get them.
            if unbound_field.field_class in (FieldList, FormField):
                return unbound_field.bind(form=form, **options)
            return super().bind_field(form, unbound_field, options)

    # The settings as drawn (configuration_fingerprint): a save from a stale page is refused.
    fingerprint = HiddenField()

    # Business information
    headline = StringField("Headline")
    terms_of_service_url = URLField("Terms of service URL")
    privacy_policy_url = URLField("Privacy policy URL")
    default_return_url = URLField("Default return URL")

    # Customer information
    customer_update_enabled = BooleanField("Customers can update their billing information")
    customer_update_allowed = CheckboxesField(
        "Details they can change", choices=_choices((c, CUSTOMER_UPDATE_LABELS[c])
                                                     for c in ALLOWED_CUSTOMER_UPDATES))

    # Payment methods and invoice history
    payment_method_update_enabled = BooleanField(
        "Customers can add and remove cards and choose their default")
    invoice_history_enabled = BooleanField(
        "Customers can see their invoices, download them and pay open ones")

    # Cancellations
    subscription_cancel_enabled = BooleanField("Customers can cancel their subscriptions")
    subscription_cancel_mode = _radio("When a cancellation takes effect", CANCEL_MODE_LABELS)
    subscription_cancel_proration_behavior = _radio("Credit for the unused time",
                                                    CANCEL_PRORATION_LABELS)
    cancellation_reason_enabled = BooleanField("Ask customers why they are cancelling")
    cancellation_reason_options = CheckboxesField(
        "Reasons to choose from", choices=_choices((c, CANCELLATION_REASON_LABELS[c])
                                                    for c in CANCELLATION_REASONS))
    retention_coupon_id = SelectField("Offer a discount", validate_choice=False)
    retention_pause_max_months = SelectField("Offer to pause payments", choices=_choices(PAUSE_CHOICES),
                                             validate_choice=False)
    retention_downgrade_price_id = SelectField("Offer a cheaper price", validate_choice=False)

    # Subscription updates
    subscription_update_enabled = BooleanField("Customers can switch plans")
    subscription_update_default_allowed_updates = CheckboxesField(
        "What customers can change", choices=_choices(UPDATE_LABELS.items()))
    products = FieldList(FormField(ProductEntryForm))
    subscription_update_proration_behavior = _radio("Charging for a change made mid-period",
                                                    UPDATE_PRORATION_LABELS)
    schedule_at_period_end_conditions = CheckboxesField(
        "Wait for the period end when...", choices=_choices(SCHEDULE_LABELS.items()))
    trial_update_behavior = _radio("A change during a free trial", TRIAL_LABELS)

    # Shown by the products' fieldset (and in the summary) when none is chosen.
    products_error: str | None = None

    # ---- filling and reading ----------------------------------------------------------------

    @classmethod
    def for_configuration(cls, config: PortalConfiguration, catalogue) -> PortalConfigurationForm:
        """The form showing ``config`` as saved, with every product the catalogue offers."""
        saved = {e.get("product"): e for e in config.subscription_update_products or []
                 if isinstance(e, dict)}
        data = {name: getattr(config, name) for name in settings.CONFIGURATION_FIELDS
                if name != "subscription_update_products"}
        data["headline"] = config.headline or ""
        for name in ("terms_of_service_url", "privacy_policy_url", "default_return_url"):
            data[name] = getattr(config, name) or ""
        data["retention_coupon_id"] = config.retention_coupon_id or ""
        data["retention_downgrade_price_id"] = config.retention_downgrade_price_id or ""
        data["retention_pause_max_months"] = str(config.retention_pause_max_months or 0)
        entries = []
        for product in catalogue.products:
            entry = saved.get(product.id) or {}
            quantity = entry.get("adjustable_quantity") or {}
            entries.append({
                "product": product.id, "selected": product.id in saved,
                "prices": list(entry.get("prices") or []),
                "quantity_enabled": bool(quantity.get("enabled")),
                "minimum": str(quantity.get("minimum", settings.QUANTITY_MINIMUM)),
                "maximum": str(quantity.get("maximum", settings.DEFAULT_QUANTITY_MAXIMUM)),
            })
        data["products"] = entries
        data["fingerprint"] = settings.configuration_fingerprint(config)
        form = cls(formdata=None, data=data)
        form.use_catalogue(catalogue)
        return form

    def use_catalogue(self, catalogue) -> None:
        """The choices that come from the catalogue: coupons, prices, each product's prices."""
        self.catalogue = catalogue
        self.retention_coupon_id.choices = _choices([("", "No discount")] + [
            (coupon.id, label) for coupon, label in catalogue.coupons])
        self.retention_downgrade_price_id.choices = _choices([("", "No cheaper price")] + [
            (price.id, label) for price, label in catalogue.recurring_prices])
        for entry in self.products:
            product_id = entry.form.product.data
            entry.form.prices.choices = _choices(
                (price.id, label) for price, label in catalogue.prices_of(product_id))

    def changes(self) -> dict | None:
        """What the form asks for, as ``update_configuration`` takes it; None (with errors by
        the fields) when a number is not a number."""
        changes = {name: getattr(self, name).data for name in settings.CONFIGURATION_FIELDS
                   if name not in ("subscription_update_products", "retention_pause_max_months")}
        for name in ("customer_update_allowed", "cancellation_reason_options",
                     "subscription_update_default_allowed_updates",
                     "schedule_at_period_end_conditions"):
            changes[name] = list(changes[name] or [])
        months = (self.retention_pause_max_months.data or "0").strip()
        ok = True
        if is_ascii_digits(months) and len(months) < 3:
            changes["retention_pause_max_months"] = int(months)
        else:
            self.retention_pause_max_months.errors = [
                *self.retention_pause_max_months.errors, "Choose how long a pause to offer"]
            ok = False
        products = []
        for entry in self.products:
            form = entry.form
            if not form.selected.data:
                continue
            minimum = form.number("minimum", settings.QUANTITY_MINIMUM)
            maximum = form.number("maximum", settings.DEFAULT_QUANTITY_MAXIMUM)
            if minimum is None or maximum is None:
                ok = False
                continue
            products.append({"product": form.product.data, "prices": list(form.prices.data or []),
                             "adjustable_quantity": {"enabled": bool(form.quantity_enabled.data),
                                                     "minimum": minimum, "maximum": maximum}})
        changes["subscription_update_products"] = products
        return changes if ok else None

    # ---- refusals ---------------------------------------------------------------------------

    def _entry_for(self, product_id: str):
        return next((e.form for e in self.products if e.form.product.data == product_id), None)

    def show_refusal(self, problems: dict[str, str]) -> None:
        """Put each of the operation's messages by the field it belongs to."""
        for key, message in problems.items():
            if key.startswith("product:"):
                _, product_id, *part = key.split(":")
                entry = self._entry_for(product_id)
                field = getattr(entry, {"prices": "prices", "minimum": "minimum",
                                        "maximum": "maximum"}.get(part[0] if part else "",
                                                                  "selected")) if entry else None
                if field is None:
                    self.products_error = message
                    continue
            elif key == "subscription_update_products":
                self.products_error = message
                continue
            else:
                field = getattr(self, key)
            field.errors = [*field.errors, message]

    @property
    def products_anchor(self) -> str:
        """Where the summary's link for the products' message leads: the first product."""
        return self.products[0].form.selected.id if self.products else \
            self.subscription_update_enabled.id

    @property
    def error_list(self) -> list[tuple[str, str]]:
        """(field id, first message) for the summary, in the page's order, products included."""
        errors = []
        for field in self:
            if field.name == "products":
                if self.products_error:
                    errors.append((self.products_anchor, self.products_error))
                for entry in field:
                    errors += [(sub.id, sub.errors[0]) for sub in entry.form
                               if sub.errors and isinstance(sub.errors[0], str)]
            elif field.errors:
                errors.append((field.id, field.errors[0]))
        return errors

    @property
    def errors(self) -> dict:
        """Every message by field id (the products' included), which the layout's "Error: "
        title reads; WTForms' own would miss messages added after validate()."""
        found: dict = {}
        for field_id, message in self.error_list:
            found.setdefault(field_id, []).append(message)
        if self.form_errors:
            found[None] = list(self.form_errors)
        return found
