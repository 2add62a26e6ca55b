"""The audit log's filters: a GET search form (nothing changes, so no CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

from portal.forms import BaseForm
from portal.reporting import audit

WHO_CHOICES = [SelectChoice("any", "Anyone"), SelectChoice("staff", "Staff"),
               SelectChoice("customers", "Customers"),
               SelectChoice("system", "System (billing, the worker)"),
               SelectChoice("visitor", "Visitors (not signed in)")]


_DAY = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")  # ASCII digits only, unlike strptime's
FIRST_YEAR, LAST_YEAR = 1970, 9998  # the day after the last must still be a date


class DayField(DateField):
    """A day typed as YYYY-MM-DD (what a browser's date picker sends)."""

    def __init__(self, label=None, *, noun: str, **kwargs):
        super().__init__(label, format="%Y-%m-%d", **kwargs)
        self.noun = noun

    def process_formdata(self, valuelist):
        if not valuelist or not isinstance(valuelist[0], str) or not valuelist[0].strip():
            self.data = None
            return
        self.data = None
        typed = valuelist[0].strip()
        try:
            day = datetime.strptime(typed, "%Y-%m-%d").date() if _DAY.fullmatch(typed) else None
        except ValueError:
            day = None
        if day is None:
            raise ValueError(f"Enter the {self.noun} date as a real date, like 2026-03-31")
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValueError(f"Enter a {self.noun} date between the years {FIRST_YEAR} and "
                             f"{LAST_YEAR}")
        self.data = day


def customer_reference(form, field):
    """A customer's id (cus_...) or an email address; nothing else can match one."""
    value = field.data or ""
    if value and not audit.is_customer_id(value) and ("@" not in value or " " in value):
        raise ValidationError("Enter a customer's email address, like name@example.com, "
                              "or their ID, like cus_1a2b3c")


class AuditFilterForm(BaseForm):
    class Meta:
        csrf = False  # a search: it changes nothing, and its URL can be bookmarked and shared

    # The view sets the types present in the log as the choices.
    event_type = SelectField("Event type", choices=[SelectChoice("", "Any event")], default="",
                             invalid_choice_message="Choose an event type from the list")
    who = SelectField("Who did it", choices=WHO_CHOICES, default="any",
                      invalid_choice_message="Choose who did it from the list")
    customer = StringField("Customer (optional)", validators=[
        Optional(), Length(max=320, message="A customer's email or ID is 320 characters or fewer"),
        customer_reference])
    from_date = DayField("From (optional)", noun="from", validators=[Optional()])
    to_date = DayField("To (optional)", noun="to", validators=[Optional()])

    def validate_to_date(self, field):
        if field.data and self.from_date.data and field.data < self.from_date.data:
            raise ValidationError("The to date must be the same as or after the from date")

    def filters(self, *, start_of_day: Callable[[date], datetime]) -> audit.AuditFilters:
        """The filters typed, the days turned into instants by ``start_of_day(date)``."""
        since = start_of_day(self.from_date.data) if self.from_date.data else None
        until = None
        if self.to_date.data:
            until = start_of_day(self.to_date.data + timedelta(days=1))
        return audit.AuditFilters(event_type=self.event_type.data or None,
                                  who=self.who.data or "any",
                                  customer=self.customer.data or None, since=since, until=until)
