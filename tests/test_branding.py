"""portal.branding: hex colours, WCAG contrast, the text colour on the brand, the CSS variables."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from portal import branding


def look(brand="#1f4fd1", accent="#0b6e4f", font="system"):
    return SimpleNamespace(brand_color=brand, accent_color=accent, font=font)


# ---- contrast, by the WCAG 2.x formula --------------------------------------------------------

@pytest.mark.parametrize("first, second, shown", [
    ("#ffffff", "#767676", "4.54:1"),  # the lightest grey that passes on white
    ("#ffffff", "#777777", "4.48:1"),  # one step lighter: fails
    ("#000000", "#ffffff", "21.00:1"),
    ("#1f4fd1", "#1f4fd1", "1.00:1"),
    ("#ffffff", "#ffdd00", "1.35:1"),
])
def test_contrast_ratios_match_the_known_wcag_pairs(first, second, shown):
    assert branding.format_ratio(branding.contrast_ratio(first, second)) == shown


def test_contrast_is_the_same_whichever_colour_is_the_text():
    assert branding.contrast_ratio("#767676", "#ffffff") == branding.contrast_ratio(
        "#ffffff", "#767676")


def test_white_on_767676_passes_aa_and_on_777777_fails():
    assert branding.contrast_ratio("#ffffff", "#767676") >= branding.TEXT_CONTRAST
    assert branding.contrast_ratio("#ffffff", "#777777") < branding.TEXT_CONTRAST


def test_a_ratio_just_short_of_the_threshold_is_never_shown_as_reaching_it():
    assert branding.format_ratio(4.4999) == "4.49:1"
    assert branding.format_ratio(4.4951, needed=3.0) == "4.50:1"


def test_luminance_runs_from_black_to_white():
    assert branding.relative_luminance("#000") == 0
    assert branding.relative_luminance("#fff") == pytest.approx(1)


# ---- the text colour on a background ---------------------------------------------------------

@pytest.mark.parametrize("background, text, passes", [
    ("#ffdd00", branding.NEAR_BLACK, True),  # yellow
    ("#000080", branding.WHITE, True),  # navy
    ("#767676", branding.WHITE, True),  # mid-grey, dark enough for white
    ("#808080", branding.NEAR_BLACK, True),  # mid-grey, light enough for near-black
    ("#777777", branding.WHITE, False),  # neither reaches 4.5:1: the better one, flagged
    ("#1f4fd1", branding.WHITE, True),
    ("#ffffff", branding.NEAR_BLACK, True),
])
def test_text_on_a_colour_is_white_or_near_black_whichever_reaches_aa(background, text, passes):
    choice = branding.text_on(background)
    assert (choice.colour, choice.passes) == (text, passes)
    assert choice.ratio == branding.contrast_ratio(text, background)


def test_when_neither_text_colour_passes_the_better_one_is_chosen():
    choice = branding.text_on("#777777")
    assert choice.ratio > branding.contrast_ratio(branding.NEAR_BLACK, "#777777")


# ---- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, stored", [
    ("#abc", "#aabbcc"), ("#ABC", "#aabbcc"), ("#1F4FD1", "#1f4fd1"), ("#1f4fd1", "#1f4fd1"),
    (" #0b6e4f ", "#0b6e4f"),
])
def test_hex_colours_are_normalised_to_lower_case_six_digits(typed, stored):
    assert branding.parse_hex(typed) == stored


@pytest.mark.parametrize("typed", [
    "red", "#12345", "#ggg", "javascript:", "javascript:alert(1)", "#fff;}body{",
    "#fff;background:url(x)", "#fff</style><script>", "abc", "1f4fd1", "#1234567",
    "#11223344", "#", "", "   ", "#１２３", "rgb(0,0,0)", "#fff\\", "var(--x)", None, 123,
])
def test_anything_but_a_hex_colour_is_refused(typed):
    assert branding.parse_hex(typed) is None
    assert branding.safe_hex(typed, "#1f4fd1") == "#1f4fd1"


# ---- links on white --------------------------------------------------------------------------

def test_a_brand_colour_readable_on_white_is_the_link_colour():
    assert branding.readable_on_white("#1f4fd1") == "#1f4fd1"


@pytest.mark.parametrize("colour", ["#ffdd00", "#9999dd", "#777777", "#ffffff", "#00ff00"])
def test_a_pale_brand_colour_is_darkened_until_links_reach_aa_on_white(colour):
    link = branding.readable_on_white(colour)
    assert branding.contrast_ratio(link, branding.WHITE) >= branding.TEXT_CONTRAST
    # The lightest such shade (1% steps), not simply black.
    assert branding.contrast_ratio(link, branding.WHITE) < 5.0


def test_darkening_keeps_the_hue():
    r, g, b = branding.rgb(branding.readable_on_white("#ffdd00"))
    assert b == 0 and 0.8 < g / r < 0.9  # #ffdd00 is 221/255 green to red


# ---- the CSS custom properties ---------------------------------------------------------------

def test_css_variables_carry_every_value_the_stylesheet_uses():
    css = branding.css_variables(look(brand="#FD0", accent="#0b6e4f", font="transitional"))
    assert css.startswith(":root{") and css.endswith("}")
    for expected in ("--brand:#ffdd00;", "--on-brand:#111111;", "--link:#877500;",
                     "--accent:#0b6e4f;", "--on-accent:#ffffff;",
                     "--font:Charter,Bitstream Charter,Sitka Text,Cambria,serif"):
        assert expected in css


@pytest.mark.parametrize("brand, accent, font", [
    ("#fff;}body{background:red", "</style><script>alert(1)</script>", "x;}*{color:red"),
    ("javascript:", "expression(alert(1))", "system;--brand:red"),
    (None, None, None),
])
def test_css_variables_never_carry_what_was_typed_only_defaults(brand, accent, font):
    css = branding.css_variables(look(brand, accent, font))
    assert css == branding.css_variables(look(branding.DEFAULT_BRAND, branding.DEFAULT_ACCENT,
                                              branding.DEFAULT_FONT))
    assert css.count("{") == 1 and css.count("}") == 1
    assert not any(ch in css for ch in "<>&\"'\\")


def test_css_variables_can_be_scoped_to_the_preview():
    assert branding.css_variables(look(), selector=".branding-preview").startswith(
        ".branding-preview{--brand:#1f4fd1;")


def test_every_font_stack_is_a_system_stack_that_fits_the_column_and_needs_no_quotes():
    for key, (label, stack) in branding.FONT_STACKS.items():
        assert len(key) <= 20 and label
        assert stack.rsplit(",", 1)[-1] in ("sans-serif", "serif", "monospace")
        assert not any(ch in stack for ch in "<>&\"'\\;{}()")
        assert "url" not in stack
    assert "Charter" in branding.font_stack("transitional")
    assert branding.font_stack("comic-sans") == branding.font_stack("system")


# ---- warnings --------------------------------------------------------------------------------

def test_a_brand_colour_that_fails_against_white_is_warned_about_with_the_link_colour_used():
    [warning] = branding.warnings(look(brand="#ffdd00"))
    assert warning.field == "brand_color"
    assert "#ffdd00 has a contrast of 1.35:1 against white" in warning.message
    assert "Links use the darker #877500" in warning.message


def test_a_brand_colour_no_text_colour_can_sit_on_is_warned_about_twice():
    warnings = branding.warnings(look(brand="#777777"))
    assert [w.field for w in warnings] == ["brand_color", "brand_color"]
    assert "Neither white nor black text reaches 4.5:1 on #777777" in warnings[1].message


def test_a_pale_accent_is_warned_about_at_the_non_text_threshold():
    [warning] = branding.warnings(look(accent="#eeeeee"))
    assert warning.field == "accent_color"
    assert "below the 3:1" in warning.message


def test_the_default_colours_need_no_warning():
    assert branding.warnings(look()) == []
