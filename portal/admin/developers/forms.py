"""The Developers page's forms: a new API key's name; revoking a key."""

from __future__ import annotations

from portal.forms import BaseForm, text_field


class NewKeyForm(BaseForm):
    name = text_field("Name", max_length=100,
                      required="Enter a name for the key, such as the system that will use it")


class RevokeKeyForm(BaseForm):
    """Only the CSRF token: the key is in the URL."""
