"""The webhook endpoint form. Each rule is the operation's own (portal/webhooks/operations.py
``clean_*``), so the dashboard and the API refuse the same things in the same words."""

from __future__ import annotations

from wtforms import BooleanField, StringField
from wtforms.validators import StopValidation

from portal.admin.portal_config.forms import CheckboxesField
from portal.forms import BaseForm
from portal.webhooks import operations as ops
from portal.webhooks.types import ALL_EVENTS, WEBHOOK_EVENT_TYPES

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) tuples
    def SelectChoice(value, label):  # noqa: N802
        return (value, label)

EVENT_GROUPS = (
    ("Customers", "customer."),
    ("Subscriptions", "customer.subscription."),
    ("Invoices", "invoice."),
    ("Payment methods", "payment_method."),
    ("Customer portal", "billing_portal."),
)


def grouped_event_types() -> list[tuple[str, list[str]]]:
    """The event types under headings, for the checkboxes."""
    groups = []
    for title, prefix in EVENT_GROUPS:
        types = [t for t in WEBHOOK_EVENT_TYPES if t.startswith(prefix)
                 and not (prefix == "customer." and t.startswith("customer.subscription."))]
        groups.append((title, types))
    return groups


def rule(clean, **options):
    """A validator from an operation's rule: the cleaned value replaces what was typed."""

    def check(form, field):
        try:
            field.data = clean(field.data, **options)
        except ops.WebhookRefused as refused:
            raise StopValidation(refused.message) from None

    return check


class EndpointForm(BaseForm):
    url = StringField("Endpoint URL", validators=[rule(ops.clean_url)])
    description = StringField("Description (optional)", validators=[rule(ops.clean_description)])
    all_events = BooleanField("Send every event type, including ones added later")
    enabled_events = CheckboxesField("Events to send", choices=[
        SelectChoice(t, t) for t in WEBHOOK_EVENT_TYPES])
    enabled = BooleanField("Send events to this endpoint")

    def validate_enabled_events(self, field):
        chosen = [ALL_EVENTS] if self.all_events.data else list(field.data or [])
        try:
            field.data = ops.clean_enabled_events(chosen)
        except ops.WebhookRefused as refused:
            if not chosen:
                raise StopValidation("Choose the events to send, or send every event type") \
                    from None
            raise StopValidation(refused.message) from None

    @classmethod
    def for_endpoint(cls, endpoint) -> EndpointForm:
        events = list(endpoint.enabled_events or [])
        return cls(formdata=None, data={
            "url": endpoint.url, "description": endpoint.description or "",
            "all_events": ALL_EVENTS in events,
            "enabled_events": [e for e in events if e != ALL_EVENTS],
            "enabled": endpoint.status == "enabled"})

    @property
    def changes(self) -> dict:
        return {"url": self.url.data, "description": self.description.data,
                "enabled_events": self.enabled_events.data}
