"""Tax ID types (Stripe's names) and the checks that tell a real number from a typing mistake.

Formats and check digits come from python-stdnum, a maintained library of these algorithms;
this module only maps Stripe's type names to it and words its answers for customers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from stdnum import luhn
from stdnum.ar import cuit as ar_cuit
from stdnum.au import abn as au_abn
from stdnum.br import cnpj as br_cnpj
from stdnum.br import cpf as br_cpf
from stdnum.ca import bn as ca_bn
from stdnum.ch import uid as ch_uid
from stdnum.ch import vat as ch_vat
from stdnum.cl import rut as cl_rut
from stdnum.co import nit as co_nit
from stdnum.es import cif as es_cif
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.gb import vat as gb_vat
from stdnum.in_ import gstin as in_gstin
from stdnum.is_ import vsk as is_vsk
from stdnum.jp import cn as jp_cn
from stdnum.kr import brn as kr_brn
from stdnum.mx import rfc as mx_rfc
from stdnum.no import mva as no_mva
from stdnum.nz import ird as nz_ird
from stdnum.ru import inn as ru_inn
from stdnum.sg import uen as sg_uen
from stdnum.th import tin as th_tin
from stdnum.tr import vkn as tr_vkn
from stdnum.tw import ubn as tw_ubn
from stdnum.us import ein as us_ein

from portal.customers.addresses import country_name


class InvalidTaxId(ValueError):
    """The value is not a tax ID of the chosen type; ``message`` says how to fix it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TaxIdType:
    code: str  # Stripe's type name, e.g. "eu_vat"
    label: str  # "EU VAT number"
    country: str | None  # None: taken from the number's prefix (eu_vat)
    example: str
    module: ModuleType | None = None  # a python-stdnum module with validate() and compact()
    pattern: str | None = None  # for types stdnum does not know: the whole compact value
    canonical: str = "compact"  # "compact", "format" (stdnum's format) or "prefixed"

    def normalize(self, value: str) -> str:
        """Check ``value`` and return it as stored; raise InvalidTaxId if it is not real."""
        raw = " ".join(value.split())
        if not raw:
            raise InvalidTaxId(_("Enter the %(label)s", label=self.label))
        if self.module is not None:
            try:
                number = self.module.validate(raw)
            except InvalidChecksum as exc:
                raise InvalidTaxId(_("Check the %(label)s for typing mistakes: its check "
                                     "digits do not match", label=self.label)) from exc
            except (InvalidComponent, ValidationError) as exc:
                raise InvalidTaxId(self.format_message()) from exc
            if self.canonical == "format" and hasattr(self.module, "format"):
                return self.module.format(number)
            if self.canonical == "prefixed":
                return f"{self.country}{number}"
            return number
        compact = re.sub(r"[\s.\-/]", "", raw).upper()
        if not self.pattern or not re.fullmatch(self.pattern, compact):
            raise InvalidTaxId(self.format_message())
        return compact

    def format_message(self) -> str:
        return _("Enter the %(label)s in the correct format, like %(example)s",
                 label=self.label, example=self.example)


def _types(*items: TaxIdType) -> dict[str, TaxIdType]:
    return {item.code: item for item in items}


TAX_ID_TYPES: dict[str, TaxIdType] = _types(
    TaxIdType("eu_vat", _l("EU VAT number"), None, "DE123456789", eu_vat),
    TaxIdType("gb_vat", _l("UK VAT number"), "GB", "GB123456789", gb_vat, canonical="prefixed"),
    TaxIdType("us_ein", _l("US Employer Identification Number (EIN)"), "US", "12-3456789", us_ein,
              canonical="format"),
    TaxIdType("ch_vat", _l("Swiss VAT number"), "CH", "CHE-123.456.789 MWST", ch_vat,
              canonical="format"),
    TaxIdType("ch_uid", _l("Swiss business identification number (UID)"), "CH",
              "CHE-123.456.789", ch_uid, canonical="format"),
    TaxIdType("au_abn", _l("Australian Business Number (ABN)"), "AU", "12 345 678 912", au_abn,
              canonical="format"),
    TaxIdType("ca_bn", _l("Canadian Business Number (BN)"), "CA", "123456789",
              pattern=r"\d{9}"),
    TaxIdType("ca_gst_hst", _l("Canadian GST/HST number"), "CA", "123456789RT0002",
              pattern=r"\d{9}RT\d{4}"),
    TaxIdType("no_vat", _l("Norwegian VAT number"), "NO", "123456789MVA", no_mva),
    TaxIdType("is_vat", _l("Icelandic VAT number"), "IS", "123456", is_vsk),
    TaxIdType("in_gst", _l("Indian GST number (GSTIN)"), "IN", "12ABCDE3456F7Z8", in_gstin),
    TaxIdType("nz_gst", _l("New Zealand GST number"), "NZ", "123-456-789", nz_ird,
              canonical="format"),
    TaxIdType("za_vat", _l("South African VAT number"), "ZA", "4123456789", pattern=r"4\d{9}"),
    TaxIdType("br_cnpj", _l("Brazilian CNPJ number"), "BR", "01.234.456/5432-10", br_cnpj,
              canonical="format"),
    TaxIdType("br_cpf", _l("Brazilian CPF number"), "BR", "123.456.789-09", br_cpf,
              canonical="format"),
    TaxIdType("ar_cuit", _l("Argentinian CUIT"), "AR", "20-26756539-3", ar_cuit,
              canonical="format"),
    TaxIdType("cl_tin", _l("Chilean RUT"), "CL", "12.345.678-5", cl_rut, canonical="format"),
    TaxIdType("co_nit", _l("Colombian NIT"), "CO", "213.123.432-1", co_nit, canonical="format"),
    TaxIdType("es_cif", _l("Spanish CIF number"), "ES", "A12345674", es_cif),
    TaxIdType("jp_cn", _l("Japanese Corporate Number"), "JP", "5835678256246", jp_cn),
    TaxIdType("kr_brn", _l("Korean Business Registration Number"), "KR", "123-45-67890", kr_brn,
              canonical="format"),
    TaxIdType("mx_rfc", _l("Mexican RFC"), "MX", "ABC010203AB9", mx_rfc),
    TaxIdType("ru_inn", _l("Russian INN"), "RU", "1234567891", ru_inn),
    TaxIdType("sg_uen", _l("Singaporean UEN"), "SG", "123456789F", sg_uen),
    TaxIdType("th_vat", _l("Thai VAT number"), "TH", "1234567891234", th_tin),
    TaxIdType("tr_tin", _l("Turkish tax number (VKN)"), "TR", "0123456789", tr_vkn),
    TaxIdType("tw_vat", _l("Taiwanese VAT number (UBN)"), "TW", "12345678", tw_ubn),
)

# eu_vat's prefixes: Greece writes EL, Northern Ireland XI.
_EU_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}


def tax_id_type_choices() -> list[tuple[str, str]]:
    """(code, label) for a select, sorted by the label in the current language."""
    return sorted(((t.code, t.label) for t in TAX_ID_TYPES.values()), key=lambda c: str(c[1]))


def tax_id_label(code: str) -> str:
    """The words for a type code; the code itself for types no longer offered."""
    kind = TAX_ID_TYPES.get(code)
    return str(kind.label) if kind else code


def normalize_tax_id(type_code: str, value: str) -> tuple[str, str | None]:
    """Check a tax ID and return (value as stored, its country); raise InvalidTaxId."""
    kind = TAX_ID_TYPES.get(type_code)
    if kind is None:
        raise InvalidTaxId(_("Select the type of tax ID"))
    if type_code == "eu_vat":
        return _normalize_eu_vat(value)
    if type_code == "ca_bn":
        number = kind.normalize(value)
        if not luhn.is_valid(number):
            raise InvalidTaxId(_("Check the %(label)s for typing mistakes: its check digit "
                                 "does not match", label=kind.label))
        return number, kind.country
    if type_code == "ca_gst_hst":
        number = kind.normalize(value)
        if not ca_bn.is_valid(number):
            raise InvalidTaxId(_("Check the %(label)s for typing mistakes: its check digit "
                                 "does not match", label=kind.label))
        return number, kind.country
    return kind.normalize(value), kind.country


def _normalize_eu_vat(value: str) -> tuple[str, str]:
    compact = re.sub(r"[\s.,\-/]", "", value).upper()
    if not compact:
        raise InvalidTaxId(_("Enter the EU VAT number"))
    prefix = compact[:2]
    if prefix != "EL" and prefix.lower() not in eu_vat.MEMBER_STATES:
        raise InvalidTaxId(_("Enter the EU VAT number starting with its country code, "
                             "like DE123456789 or FR40303265045"))
    country = _EU_PREFIX_COUNTRY.get(prefix, prefix)
    name = country_name(country)
    try:
        number = eu_vat.validate(compact)
    except InvalidChecksum as exc:
        raise InvalidTaxId(_("Check the VAT number for typing mistakes: it is not a valid VAT "
                             "number for %(name)s", name=name)) from exc
    except ValidationError as exc:
        raise InvalidTaxId(_("Enter the VAT number for %(name)s in the correct format, "
                             "starting with %(prefix)s", name=name, prefix=prefix)) from exc
    return number, country
