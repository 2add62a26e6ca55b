"""axe-core in a real Chromium: ``assert_no_axe_violations(page, state_name)`` runs the pinned
copy in tests/browser/vendor/ (never served to customers) against what the page shows now, for
the WCAG 2.0, 2.1 and 2.2 A and AA rules, and fails with one readable line per element."""

from __future__ import annotations

from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor"
AXE_VERSION = "4.14.1"
AXE_FILE = VENDOR / f"axe-core-{AXE_VERSION}.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]

_RUN = """async tags => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                          resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.map(String), html: n.html,
                              summary: n.failureSummary}))}));
}"""

# axe 4.7 retired its duplicate-id rules but for ARIA references; two elements with one id still
# break a label's for=, a skip link or an htmx target, and a swap can bring a second copy in.
_DUPLICATE_IDS = """() => {
  const seen = new Map();
  for (const e of document.querySelectorAll('[id]')) seen.set(e.id, [...(seen.get(e.id) || []), e]);
  return [...seen].filter(([, all]) => all.length > 1).map(([id, all]) => ({
    id: 'duplicate-id', impact: 'serious', help: `id="${id}" is used ${all.length} times`,
    url: 'https://www.w3.org/TR/WCAG20-TECHS/F77.html',
    nodes: all.map(e => ({target: ['#' + id], html: e.outerHTML.slice(0, 200), summary: ''}))}));
}"""


def _inject(page) -> None:
    # Evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does not
    # govern, so the portal's real policy stays on while axe looks at it; add_script_tag would
    # insert an inline <script> that the policy rightly refuses.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_FILE.read_text(encoding="utf-8"))


def axe_violations(page) -> list[dict]:
    """axe's violations for the WCAG A and AA tags on the document as it is now, and any id
    used twice."""
    _inject(page)
    return page.evaluate(_RUN, WCAG_TAGS) + page.evaluate(_DUPLICATE_IDS)


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}"
                     f" <{violation['url']}>")
        for node in violation["nodes"]:
            lines.append(f"    at {' '.join(node['target'])}: {node['html'][:200]}")
            if node["summary"]:
                lines.extend(f"      {line}" for line in node["summary"].splitlines()[:4])
    return "\n".join(lines)


def assert_no_axe_violations(page, state_name: str) -> None:
    """Fail, naming ``state_name`` and every rule and element, if axe finds a WCAG A/AA issue."""
    violations = axe_violations(page)
    assert not violations, (f"axe {AXE_VERSION} found WCAG 2.2 A/AA violations on {state_name} "
                            f"({page.url}):\n{describe(violations)}")
