"""`flask templates texts` finds the texts given to Flask-Babel, with their placeholders written
as texts.html patterns write them."""

from __future__ import annotations

import pytest

from portal.designer.python_texts import python_texts


def _texts(tmp_path, source: str) -> dict[str, str]:
    (tmp_path / "module.py").write_text(source)
    return {entry.text: entry.kind for entry in python_texts(tmp_path)}


@pytest.mark.parametrize(("source", "text", "kind"), [
    ('flash(_("Your name has been updated"), "success")',
     "Your name has been updated", "flash message"),
    ('flash(_("Tax ID %(value)s has been added", value=tax_id.value))',
     "Tax ID {value} has been added", "flash message"),
    ('raise ValidationError(_l("Enter the %(code_digits)s-digit code", code_digits=6))',
     "Enter the {code_digits}-digit code", "validation message"),
    ('x = StringField(lazy_gettext("Name on card"))', "Name on card", "field label"),
    ('enqueue_email(s, subject=_l("Your sign-in code for %(business_name)s", business_name=n))',
     "Your sign-in code for {business_name}", "email subject"),
    ('PAGES = {404: (_l("Page not found"), _l("Check the address."))}',
     "Page not found", "error page"),
    ('DECLINE_MESSAGES = {"card_declined": N_("Your card was declined.")}',
     "Your card was declined.", "message"),
    ('x = _("%(percent)s%% off your next invoice", percent=p)',
     "{percent}% off your next invoice", "text"),
    ('x = gettext("Your %(num)d invoice", num=3)', "Your {num} invoice", "text"),
    ('flash(str(_l("Saved")))', "Saved", "flash message"),
])
def test_a_text_given_to_gettext_is_listed_with_its_placeholders(tmp_path, source, text, kind):
    assert _texts(tmp_path, source + "\n").get(text) == kind


def test_both_forms_of_an_ngettext_are_listed(tmp_path):
    texts = _texts(tmp_path, 'message = ngettext("%(count)s try left", "%(count)s tries left", n, '
                             "count=n)\n")
    assert texts == {"{count} try left": "message", "{count} tries left": "message"}


def test_a_gettext_calls_keywords_are_values_not_texts(tmp_path):
    texts = _texts(tmp_path, 'x = _("Paid: %(reason)s", reason="Because it was due")\n')
    assert texts == {"Paid: {reason}": "text"}


def test_f_strings_are_still_listed_for_the_english_only_code(tmp_path):
    assert _texts(tmp_path, 'flash(f"{kind} saved.")\n') == {"{kind} saved.": "flash message"}
