"""The footer's language form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField
from wtforms.validators import Length

from portal.forms import BaseForm
from portal.i18n import LANGUAGES


class LanguageForm(BaseForm):
    # Each language is named in its own language, so anyone can find theirs.
    language = SelectField(_l("Language"), choices=[(lang.code, lang.name) for lang in LANGUAGES],
                           validate_choice=True)
    # The page to go back to; a long one is no page of the portal's.
    next = HiddenField(validators=[Length(max=2000)])
