"""The merchant's colours and font, turned into what pages, emails and PDFs use.

Plain Python, no Flask: hex colours are parsed and normalised here, contrast is worked out by
WCAG 2.x, and ``css_variables`` builds the only CSS a page's ``<style nonce>`` carries. Merchant
input never reaches a stylesheet as typed: a colour is re-written from the three numbers it
parses to, and a font is a key of ``FONT_STACKS``, whose stacks are fixed strings here.

Text on a brand-coloured surface (``--on-brand``) is white or a near-black, whichever reaches
4.5:1. Links sit on white, so they use ``--link``: the brand colour itself when it reaches 4.5:1
against white, else the same hue darkened until it does. The accent is drawn as lines and
markers only (the current page in the navigation, an information notice's edge), never as
text, so it is held to WCAG's 3:1 for non-text contrast.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_BRAND = "#1f4fd1"
DEFAULT_ACCENT = "#0b6e4f"
DEFAULT_FONT = "system"
WHITE = "#ffffff"
# Darker than the pages' body text (#1b1f24) on purpose: the band of colours on which neither it
# nor white reaches 4.5:1 is narrower (about #777777 only).
NEAR_BLACK = "#111111"
TEXT_CONTRAST = 4.5  # WCAG 2.x AA, normal text (1.4.3)
NON_TEXT_CONTRAST = 3.0  # WCAG 2.1 AA, lines and markers (1.4.11)

# ASCII only: "#１２３" (full-width digits) is not a colour a stylesheet understands.
_HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", re.ASCII)

# key -> (label, CSS font-family stack). System fonts only: nothing is ever downloaded, so the
# page costs no extra request and draws at once. The stacks follow the "modern font stacks"
# idea: a typeface each major system has, by classification, then the generic family. Keys fit
# Branding.font (20 characters). Family names are left unquoted (each is a run of identifiers,
# which CSS allows), so the CSS holds no quote for HTML escaping to turn into an entity.
FONT_STACKS: dict[str, tuple[str, str]] = {
    "system": ("System UI (the device's own font)",
               "system-ui,-apple-system,Segoe UI,Roboto,Helvetica Neue,Arial,sans-serif"),
    "neo-grotesque": ("Neo-grotesque sans-serif (Helvetica, Arial)",
                      "Inter,Roboto,Helvetica Neue,Arial Nova,Nimbus Sans,Arial,sans-serif"),
    "humanist": ("Humanist sans-serif (Gill Sans, Calibri)",
                 "Seravek,Gill Sans Nova,Ubuntu,Calibri,DejaVu Sans,source-sans-pro,sans-serif"),
    "geometric": ("Geometric sans-serif (Avenir, Montserrat)",
                  "Avenir,Avenir Next LT Pro,Montserrat,Corbel,URW Gothic,source-sans-pro,"
                  "sans-serif"),
    "classical-humanist": ("Classical humanist sans-serif (Optima, Candara)",
                           "Optima,Candara,Noto Sans,source-sans-pro,sans-serif"),
    "transitional": ("Classical serif (Charter, Cambria)",
                     "Charter,Bitstream Charter,Sitka Text,Cambria,serif"),
    "old-style": ("Old-style serif (Palatino, Iowan)",
                  "Iowan Old Style,Palatino Linotype,URW Palladio L,P052,serif"),
    "monospace": ("Monospace (Menlo, Consolas)",
                  "ui-monospace,Cascadia Code,Source Code Pro,Menlo,Consolas,DejaVu Sans Mono,"
                  "monospace"),
}


def parse_hex(value) -> str | None:
    """``#rgb`` or ``#rrggbb`` (any case) as ``#rrggbb`` in lower case; None for anything else
    (a colour name, a missing '#', an alpha channel, CSS or script)."""
    if not isinstance(value, str):
        return None
    match = _HEX.fullmatch(value.strip())
    if match is None:
        return None
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return "#" + digits


def safe_hex(value, default: str) -> str:
    """The colour normalised, or ``default`` when it is not one: what reaches CSS and PDFs."""
    return parse_hex(value) or default


def rgb(colour: str) -> tuple[int, int, int]:
    """The three 0-255 channels of a colour ``parse_hex`` accepts."""
    normal = parse_hex(colour)
    if normal is None:
        raise ValueError(f"not a hex colour: {colour!r}")
    return tuple(int(normal[i:i + 2], 16) for i in (1, 3, 5))


def to_hex(channels: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in channels)


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance: 0 for black, 1 for white."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.x contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    a, b = relative_luminance(first), relative_luminance(second)
    lighter, darker = max(a, b), min(a, b)
    return (lighter + 0.05) / (darker + 0.05)


def format_ratio(ratio: float, needed: float = TEXT_CONTRAST) -> str:
    """``4.54:1``: rounded to two places, except that a ratio just short of ``needed`` is cut,
    never rounded up to it ("4.50:1, not enough" would read as a contradiction)."""
    shown = round(ratio, 2)
    if ratio < needed <= shown:
        shown = math.floor(ratio * 100) / 100
    return f"{shown:.2f}:1"


@dataclass(frozen=True)
class TextColour:
    """The text colour chosen for a background, its contrast, and whether it reaches 4.5:1."""

    colour: str
    ratio: float
    passes: bool

    @property
    def name(self) -> str:
        return "white" if self.colour == WHITE else "black"


def text_on(background: str) -> TextColour:
    """White or near-black text for ``background``, whichever reaches 4.5:1. On the few colours
    where neither does (mid-greys like #777777), the better of the two, with ``passes`` False."""
    white = contrast_ratio(WHITE, background)
    dark = contrast_ratio(NEAR_BLACK, background)
    # White first when both pass (they cannot both, with this near-black, but the rule is plain).
    if white >= TEXT_CONTRAST or white >= dark:
        return TextColour(WHITE, white, white >= TEXT_CONTRAST)
    return TextColour(NEAR_BLACK, dark, dark >= TEXT_CONTRAST)


def readable_on_white(colour: str, needed: float = TEXT_CONTRAST) -> str:
    """``colour`` when it reaches ``needed`` against white, else the lightest darker shade of
    it (the channels scaled down together, so the hue stays) that does."""
    if contrast_ratio(colour, WHITE) >= needed:
        return parse_hex(colour)
    channels = rgb(colour)
    for step in range(1, 101):
        shade = to_hex(tuple(c * (1 - step / 100) for c in channels))
        if contrast_ratio(shade, WHITE) >= needed:
            return shade
    return "#000000"  # not reached: black is 21:1


def font_stack(key: str | None) -> str:
    """The CSS font-family stack for a FONT_STACKS key; the system stack for anything else."""
    return FONT_STACKS.get(key or "", FONT_STACKS[DEFAULT_FONT])[1]


@dataclass(frozen=True)
class Look:
    """Everything derived from the branding that pages, emails and PDFs draw with."""

    brand: str
    on_brand: TextColour
    link: str
    accent: str
    on_accent: TextColour
    font_key: str
    font: str

    @property
    def brand_on_white(self) -> float:
        return contrast_ratio(self.brand, WHITE)

    @property
    def link_on_white(self) -> float:
        return contrast_ratio(self.link, WHITE)

    @property
    def accent_on_white(self) -> float:
        return contrast_ratio(self.accent, WHITE)


def look_of(branding) -> Look:
    """The look of anything with ``brand_color``, ``accent_color`` and ``font`` (the Branding
    row, or the values typed into the dashboard's preview). Bad values fall back to defaults."""
    brand = safe_hex(getattr(branding, "brand_color", None), DEFAULT_BRAND)
    accent = safe_hex(getattr(branding, "accent_color", None), DEFAULT_ACCENT)
    key = getattr(branding, "font", None)
    return _look(brand, accent, key if isinstance(key, str) and key in FONT_STACKS
                 else DEFAULT_FONT)


@lru_cache(maxsize=256)
def _look(brand: str, accent: str, key: str) -> Look:
    # Every page asks; the answer depends on three normalised values only, so work it out once.
    return Look(brand=brand, on_brand=text_on(brand), link=readable_on_white(brand),
                accent=accent, on_accent=text_on(accent), font_key=key, font=font_stack(key))


def css_variables(branding, selector: str = ":root") -> str:
    """``:root{--brand:...;--on-brand:...;--link:...;--accent:...;--on-accent:...;--font:...}``.

    Built only from normalised hex colours and the fixed stacks above, so it cannot close the
    ``<style>`` element or add a rule, whatever the merchant typed."""
    look = look_of(branding)
    declarations = (f"--brand:{look.brand};--on-brand:{look.on_brand.colour};"
                    f"--link:{look.link};--accent:{look.accent};"
                    f"--on-accent:{look.on_accent.colour};--font:{look.font}")
    css = f"{selector}{{{declarations}}}"
    # The selector is ours too; this only guards against a future caller passing input. With
    # none of these, HTML escaping leaves the text as it is, and it cannot end the <style>.
    if any(ch in css for ch in "<>&\"'\\"):
        raise ValueError("css_variables: unexpected characters")
    return css


@dataclass(frozen=True)
class ContrastWarning:
    field: str  # the form field it is about: brand_color or accent_color
    message: str


def warnings(branding) -> list[ContrastWarning]:
    """What the merchant should know about their colours, in plain English."""
    look = look_of(branding)
    found = []
    if look.brand_on_white < TEXT_CONTRAST:
        found.append(ContrastWarning("brand_color", (
            f"The brand colour {look.brand} has a contrast of "
            f"{format_ratio(look.brand_on_white)} against white, below the 4.5:1 that WCAG AA "
            f"asks of text. Links use the darker {look.link} instead, so they stay readable.")))
    if not look.on_brand.passes:
        found.append(ContrastWarning("brand_color", (
            f"Neither white nor black text reaches 4.5:1 on {look.brand}: buttons use "
            f"{look.on_brand.name} text at {format_ratio(look.on_brand.ratio)}. Choose a darker "
            "or a lighter brand colour.")))
    if look.accent_on_white < NON_TEXT_CONTRAST:
        found.append(ContrastWarning("accent_color", (
            f"The accent colour {look.accent} has a contrast of "
            f"{format_ratio(look.accent_on_white, NON_TEXT_CONTRAST)} against white, below the "
            "3:1 that WCAG AA asks of lines and markers, such as the current page in the "
            "navigation. Choose a darker accent colour.")))
    return found
