"""Every text a customer reads in a template goes through gettext.

Each customer template is parsed with the app's Jinja environment. What it writes as it stands
(nodes.TemplateData: the static text outside {{ }}, {% %} and {% trans %}) is put back together
in source order, each expression standing in as a blank, and read as HTML: text that still has a
letter in it, or a customer-facing attribute (aria-label, title, alt, placeholder, data-label,
a button's value) with one, was written in English and would not be translated. String
constants handed to the components as their text (button("Save"), field(hint="..."),
status_badge(s, "Paid"), ...) and constants printed as they are ({{ x or "None" }},
{{ "A" if c else "B" }}) count too. Customer and merchant data are always expressions, so they
never show up here.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from jinja2 import nodes

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# Not customer pages: the dashboard and the developer tools are English only, texts.html holds
# no text of its own, and the layout (with its language switcher) is the lead's own file.
OUT_OF_SCOPE_DIRECTORIES = ("admin/", "devtools/")
OUT_OF_SCOPE_FILES = {
    "texts.html": "the designers' rewording table: no text of its own",
    "layout.html": "the frame and its language switcher, wrapped with the switcher",
    "components/bar_chart.html": "used by the dashboard only (templates/admin/dashboard), which "
                                 "is English only; its titles come from portal/admin",
}

# Static text with letters that is not language. Keyed by (template, text): keep it short, and
# say why each is here.
ALLOWED: dict[tuple[str, str], str] = {}

CHECKED_ATTRIBUTES = {"aria-label", "aria-description", "title", "alt", "placeholder",
                      "data-label"}
BUTTON_INPUT_TYPES = {"submit", "button", "reset"}  # their value is the button's text

# Components whose arguments are shown as text: positional index and keyword names.
TEXT_ARGUMENTS: dict[str, tuple[int | None, set[str]]] = {
    "button": (0, {"text"}),
    "section_link": (0, {"text", "hidden_text"}),
    "section_heading": (0, {"text"}),
    "panel_heading": (0, {"text"}),
    "fragment_title": (0, {"text"}),
    "notice": (0, {"message"}),
    "notice_banner": (0, {"message"}),
    "announcement": (0, {"message"}),
    "problem": (0, {"message"}),
    "status_badge": (1, {"label"}),
    "email_button": (1, {"text"}),
    "draft_table": (1, {"caption"}),
    "error_summary": (1, {"title"}),
    "field": (None, {"hint"}),
}

BLANK = "\x00"  # where an expression's value goes
MARK, MARK_END = "\x01", "\x02"  # around the number of a printed constant
MARKED = re.compile("\x01([0-9]+)\x02")
TAG_NAME_SO_FAR = re.compile(r"</?[A-Za-z0-9]*$")
LETTER = re.compile(r"[^\W\d_]")


def in_scope_templates() -> list[str]:
    names = []
    for path in sorted(TEMPLATES.rglob("*")):
        name = path.relative_to(TEMPLATES).as_posix()
        if not path.is_file() or path.suffix not in {".html", ".txt"}:
            continue
        if name.startswith(OUT_OF_SCOPE_DIRECTORIES) or name in OUT_OF_SCOPE_FILES:
            continue
        names.append(name)
    return names


def _skeleton(tree: nodes.Template) -> tuple[str, list[nodes.Const]]:
    """The template's static text in source order, padded with line breaks so that line N of
    the result is line N of the template. An expression becomes a BLANK, or a MARK naming the
    string constants with letters it prints (so they are judged where they land: in text, or
    in an attribute that is read, but not in a class); in a tag's name it becomes "x"."""
    parts: list[str] = []
    marked: list[nodes.Const] = []
    line = 1

    def visit(node: nodes.Node) -> None:
        nonlocal line
        if isinstance(node, nodes.TemplateData):
            if node.lineno > line:
                parts.append("\n" * (node.lineno - line))
                line = node.lineno
            parts.append(node.data)
            line += node.data.count("\n")
        elif isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    visit(child)
                    continue
                constants = [const for const in _printed_constants(child)
                             if LETTER.search(const.value)]
                if TAG_NAME_SO_FAR.search(parts[-1] if parts else ""):
                    parts.append("x")  # <h{{ level }}>, <{{ tag }}>
                elif constants:
                    for const in constants:
                        parts.append(f"{MARK}{len(marked)}{MARK_END}")
                        marked.append(const)
                else:
                    parts.append(BLANK)
        else:
            for child in node.iter_child_nodes():
                visit(child)

    visit(tree)
    return "".join(parts), marked


class _TextFinder(HTMLParser):
    def __init__(self, marked: list[nodes.Const]) -> None:
        super().__init__(convert_charrefs=True)  # entities become characters
        self.marked = marked
        self.found: list[tuple[int, str]] = []

    def handle_data(self, data: str) -> None:
        self._check(data)

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if value is None:
                continue
            if name in CHECKED_ATTRIBUTES or (
                    name == "value" and tag == "input"
                    and (attributes.get("type") or "").lower() in BUTTON_INPUT_TYPES):
                self._check(value, f'{name}="{value}"')

    handle_startendtag = handle_starttag

    def _check(self, text: str, shown: str | None = None) -> None:
        for number in MARKED.findall(text):
            const = self.marked[int(number)]
            self.found.append((const.lineno, repr(const.value)))
        static = MARKED.sub(" ", text).replace(BLANK, " ")
        if LETTER.search(static):
            shown = MARKED.sub("…", shown or " ".join(text.split())).replace(BLANK, "…")
            self.found.append((self.getpos()[0], shown))


def _printed_constants(expr: nodes.Node):
    """String constants an expression prints as they are (not a gettext call's msgid)."""
    if isinstance(expr, nodes.Const):
        if isinstance(expr.value, str):
            yield expr
    elif isinstance(expr, nodes.CondExpr):
        yield from _printed_constants(expr.expr1)
        if expr.expr2 is not None:
            yield from _printed_constants(expr.expr2)
    elif isinstance(expr, (nodes.Or, nodes.And, nodes.Add)):
        yield from _printed_constants(expr.left)
        yield from _printed_constants(expr.right)
    elif isinstance(expr, nodes.Concat):
        for child in expr.nodes:
            yield from _printed_constants(child)
    elif isinstance(expr, nodes.Filter):
        if expr.node is not None:
            yield from _printed_constants(expr.node)


def _constant_problems(tree: nodes.Template) -> list[tuple[int, str]]:
    """Constants handed to components as their text (printed ones are found in place)."""
    found = []
    candidates: list[nodes.Node] = []
    for call in tree.find_all(nodes.Call):
        if not isinstance(call.node, nodes.Name) or call.node.name not in TEXT_ARGUMENTS:
            continue
        position, keywords = TEXT_ARGUMENTS[call.node.name]
        if position is not None and len(call.args) > position:
            candidates.append(call.args[position])
        candidates += [keyword.value for keyword in call.kwargs if keyword.key in keywords]
    for expr in candidates:
        for const in _printed_constants(expr):
            if LETTER.search(const.value):
                found.append((const.lineno, repr(const.value)))
    return found


def _hides_gettext(tree: nodes.Template) -> list[tuple[int, str]]:
    """``{% set _ = list.append(x) %}`` (a common Jinja idiom) would make ``_`` None for the rest
    of the template, and every ``_("...")`` after it fails."""
    return [(node.lineno, f"{{% set {target.name} = ... %}} hides gettext: use another name")
            for node in tree.find_all((nodes.Assign, nodes.AssignBlock, nodes.For))
            for target in [node.target, *node.target.find_all(nodes.Name)]
            if isinstance(target, nodes.Name)
            if target.name in {"_", "gettext", "ngettext"}]


def untranslated(environment, source: str, name: str) -> list[tuple[int, str]]:
    """(line, text) for each text in ``source`` a customer would read untranslated."""
    tree = environment.parse(source, name)
    skeleton, marked = _skeleton(tree)
    finder = _TextFinder(marked)
    finder.feed(skeleton)
    finder.close()
    found = finder.found + _constant_problems(tree) + _hides_gettext(tree)
    return sorted({(line, text) for line, text in found if (name, text) not in ALLOWED})


def test_every_customer_template_sends_its_text_through_gettext(app):
    names = in_scope_templates()
    assert "customers/overview.html" in names and "emails/login_code.txt" in names
    problems = [f"templates/{name}:{line}: {text}"
                for name in names
                for line, text in untranslated(app.jinja_env, (TEMPLATES / name).read_text(), name)]
    assert not problems, ("Wrap these in _() / {% trans trimmed %} (docs/conventions.md, "
                          "translatable templates):\n" + "\n".join(problems))


def test_the_check_finds_english_written_in_a_template(app):
    source = """{% from "components/button.html" import button %}
<h1>Invoices</h1>
<nav aria-label="Invoice pages">{{ _("Newer") }}</nav>
<td data-label="{{ _('Date') }}">{{ invoice.number or "Draft" }}</td>
{{ button("Save name") }} {{ button(_("Save")) }}
<p>{{ customer.name }} · {{ amount }}</p>
{% trans name=customer.name %}Hello {{ name }}{% endtrans %}
<input type="submit" value="Pay now"> <input type="hidden" name="offer" value="coupon">
{% set _ = links.append(1) %}
"""
    assert untranslated(app.jinja_env, source, "example.html") == [
        (2, "Invoices"),
        (3, 'aria-label="Invoice pages"'),
        (4, "'Draft'"),
        (5, "'Save name'"),
        (8, 'value="Pay now"'),
        (9, "{% set _ = ... %} hides gettext: use another name"),
    ]
