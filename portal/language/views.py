"""Choosing the portal's language from the footer, signed in or not."""

from __future__ import annotations

from flask import Blueprint, abort, request, session, url_for

from portal.i18n import SESSION_LOCALE, catalogue_of
from portal.language.forms import LanguageForm
from portal.rendering import is_safe_local_path, see_other

bp = Blueprint("language", __name__, url_prefix="/p")


@bp.post("/language")
def choose_language():
    """Keep the chosen language in the session and go back to the page it was chosen on."""
    form = LanguageForm()
    back = form.next.data if is_safe_local_path(form.next.data) else None
    if not form.validate_on_submit():
        # Only a tampered form sends a language the select does not offer: refuse it, and
        # nothing changes.
        abort(400)
    session[SESSION_LOCALE] = form.language.data
    return see_other(back or url_for("customers.overview"))


@bp.app_context_processor
def inject_language_form():
    """The switcher's form, for the layout's footer."""
    def language_form():
        from flask_babel import get_locale

        # Back to this page, when it is one a GET can show again (not a POST's error page).
        rule = request.url_rule
        here = request.full_path.rstrip("?") if rule and "GET" in (rule.methods or ()) else None
        return LanguageForm(formdata=None, language=catalogue_of(get_locale()), next=here)

    return {"language_form": language_form}
