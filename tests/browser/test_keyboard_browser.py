"""Only the keyboard, in a real Chromium: Jenny signs in with Tab, Enter and a pasted code, and on
each main page Tab reaches the skip link first (Enter on it moves focus to <main>) and then every
control, each visible when focused, with a focus indicator that differs from its unfocused look
(WCAG 2.4.7, 2.4.11), and at least 24 by 24 CSS px (2.5.8). One demo is served for the module."""

from __future__ import annotations

import pytest

from portal.demo import JENNY
from tests.browser.demo_server import emailed_code, htmx_ready, module_demo

MAX_TABS = 150  # more than any page has controls: a page that never ends the cycle fails

# What a control looks like, for comparing focused with unfocused. Kept in a WeakMap before any
# Tab, so nothing is blurred or re-focused (which could change what :focus-visible matches).
REMEMBER_UNFOCUSED = """() => {
  const look = e => { const s = getComputedStyle(e);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow, s.backgroundColor,
            s.color, s.borderColor, s.textDecorationLine].join('|'); };
  window.__look = look;
  window.__unfocused = new WeakMap();
  for (const e of document.querySelectorAll('*')) window.__unfocused.set(e, look(e));
}"""

# Every control Tab should reach: what is focusable, rendered and enabled.
CONTROLS = """() => [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])')]
  .filter(e => !e.disabled && e.checkVisibility({visibilityProperty: true}) &&
               !(e.type === 'radio' && !e.checked &&
                 document.querySelector(`input[type=radio][name="${e.name}"]:checked`)))
  .map(e => e.outerHTML.slice(0, 120))"""

FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const r = e.getBoundingClientRect();
  const s = getComputedStyle(e);
  const p = e.closest('p');
  return {
    html: e.outerHTML.slice(0, 120),
    tag: e.tagName.toLowerCase(),
    cls: e.className,
    id: e.id,
    width: r.width, height: r.height,
    in_view: r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 &&
             r.top < innerHeight && r.left < innerWidth,
    visible: e.checkVisibility({opacityProperty: true, visibilityProperty: true}),
    outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
    changed: window.__unfocused ? window.__unfocused.get(e) !== window.__look(e) : null,
    // WCAG 2.5.8's inline exception: a link in a sentence, whose size the line height sets.
    // Taken here as a link inside a <p> that has text of its own besides its links (a row of
    // links with separators, like the footer's, is not a sentence and must be 24px tall).
    inline: e.tagName === 'A' && p !== null && (() => {
      const words = p.cloneNode(true);
      words.querySelectorAll('a, button').forEach(link => link.remove());
      return words.textContent.replace(/[\\s·|,]/g, '').length > 0; })(),
  };
}"""


@pytest.fixture(scope="module")
def demo(database_uri, _schema, tmp_path_factory):
    with module_demo(database_uri, str(tmp_path_factory.mktemp("keyboard-instance"))) as served:
        yield served


@pytest.fixture
def page(browser, demo):
    context = browser.new_context(base_url=demo.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def active(page) -> dict | None:
    return page.evaluate(FOCUSED)


def tab_until(page, predicate, limit: int = 40) -> dict:
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = active(page)
        if now and predicate(now):
            return now
    raise AssertionError(f"{limit} Tabs never reached it; focus is on {active(page)}")


def test_jenny_signs_in_with_the_keyboard_and_a_pasted_code(page, demo):
    page.goto(f"/p/login/{demo.link.id}?prefilled_email={JENNY}")
    htmx_ready(page)
    first = tab_until(page, lambda e: True, limit=1)
    assert "skip-link" in first["cls"]
    tab_until(page, lambda e: e["tag"] == "button" and "Send me a code" in e["html"])
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Check your email").wait_for()

    code_field = page.get_by_label("Code from the email")
    assert code_field.get_attribute("autocomplete") == "one-time-code"
    assert code_field.get_attribute("inputmode") == "numeric"
    # No maxlength: "123 456" pasted must arrive whole, or the last digit is cut off.
    assert code_field.get_attribute("maxlength") is None
    page.wait_for_function("() => document.activeElement.name === 'code'")

    # A code pasted as it is often written, first with a dash and one digit wrong: the server
    # keeps the digits, and says the code is not right (not that it is malformed).
    code = emailed_code(JENNY)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    paste(page, f"{wrong[:3]}-{wrong[3:]}")
    page.keyboard.press("Enter")
    page.get_by_text("The code is not right").first.wait_for()
    assert page.locator(".field--error").count() == 1

    tab_until(page, lambda e: e.get("id") == "code")
    page.keyboard.press("Control+A")
    paste(page, f" {code[:3]} {code[3:]} ")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{demo.url}/p/")
    page.get_by_role("heading", name="Your account").wait_for()


def paste(page, text: str) -> None:
    """What a paste does to the focused field: a paste event carrying the text, then the text
    inserted as one input. The system clipboard is left alone: tests run side by side."""
    page.evaluate("t => { const d = new DataTransfer(); d.setData('text/plain', t);"
                  " document.activeElement.dispatchEvent(new ClipboardEvent('paste',"
                  " {clipboardData: d, bubbles: true, cancelable: true})); }", text)
    page.keyboard.insert_text(text)


def walk(page) -> tuple[list[dict], list[str]]:
    """Tab from the top of the page until focus leaves it or comes round again: what was
    focused, in order, and the controls the page has."""
    page.evaluate(REMEMBER_UNFOCUSED)
    controls = page.evaluate(CONTROLS)
    reached: list[dict] = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        now = active(page)
        if now is None or (reached and now["html"] == reached[0]["html"]):
            return reached, controls
        reached.append(now)
    raise AssertionError(f"{MAX_TABS} Tabs did not get through the page")


def problems(reached: list[dict]) -> list[str]:
    found = []
    for element in reached:
        if not (element["visible"] and element["in_view"]):
            found.append(f"not visible when focused: {element['html']}")
        if not (element["changed"] or element["outline"]):
            found.append(f"no visible focus indicator: {element['html']}")
        if not element["inline"] and (element["width"] < 24 or element["height"] < 24):
            found.append(f"smaller than 24x24 ({element['width']:.1f}x{element['height']:.1f}):"
                         f" {element['html']}")
    return found


MAIN_PAGES = ["/p/", "/p/billing-information", "/p/payment-methods", "/p/invoices",
              "/p/invoices/{open_invoice}", "/p/subscriptions", "/p/subscriptions/{subscription}"]


@pytest.mark.parametrize("path", MAIN_PAGES)
def test_tab_reaches_every_control_visibly_with_a_focus_indicator_and_a_24px_target(
        page, demo, path):
    demo.sign_in(page.context)
    page.goto(path.format(**demo.ids))
    htmx_ready(page)
    reached, controls = walk(page)

    assert reached and "skip-link" in reached[0]["cls"], reached[:1]
    assert [e["html"] for e in reached] == controls, "Tab order is not the page's order"
    assert problems(reached) == []

    # The skip link, first in the order, moves focus to <main>.
    page.reload()
    htmx_ready(page)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'main'")
    assert page.evaluate("location.hash") == "#main"


def test_the_walk_finds_a_missing_focus_indicator_and_a_small_target(page, demo):
    demo.sign_in(page.context)
    page.goto("/p/payment-methods")
    htmx_ready(page)
    # Inline !important styles beat the stylesheet's :focus-visible rules.
    page.evaluate("""() => {
      const nav = document.querySelector('.site-nav a');
      nav.style.setProperty('outline', 'none', 'important');
      nav.style.setProperty('background', 'none', 'important');
      nav.style.setProperty('box-shadow', 'none', 'important');
      nav.style.setProperty('color', 'inherit', 'important');
      nav.style.setProperty('text-decoration', 'underline', 'important');
      document.querySelector('main .button').style.setProperty('padding', '0', 'important');
      document.querySelector('main .button').style.setProperty('line-height', '1', 'important');
    }""")
    found = problems(walk(page)[0])
    assert len(found) == 2, found
    assert found[0].startswith("no visible focus indicator: ") and 'href="/p/"' in found[0]
    assert found[1].startswith("smaller than 24x24 (") and ">Remove<" in found[1]
