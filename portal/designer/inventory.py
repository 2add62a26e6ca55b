"""What each of the portal's templates offers a designer: its kind, blocks, macros, what it
extends and includes, and the context variables it uses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from flask import Flask
from jinja2 import Environment, meta, nodes

from portal.designer import ORIGINAL_PREFIX, designer_for
from portal.designer.overrides import override_files
from portal.designer.texts import TEXTS_TEMPLATE

# What every page's context has, whichever view renders it (portal/templating.py, Flask,
# Flask-WTF, portal/customers/views.py, portal/admin/auth.py). Emails are rendered without a
# request: of these they have only branding, static_url and config.
ALWAYS_PRESENT = {
    "branding": "the merchant's branding: business_name, brand_color, accent_color, icon, "
                "logo, support_email, support_phone, support_url, address",
    "current_customer": "current_customer(): the signed-in customer, or None",
    "portal_configuration": "portal_configuration(): the portal configuration in force "
                            "(features switched on, terms and privacy links)",
    "static_url": "static_url('portal.css'): a static file's address with its content hash",
    "csp_nonce": "the nonce a <style nonce=\"{{ csp_nonce }}\"> element needs",
    "csrf_token": "csrf_token(): the token every form sends",
    "url_for": "url_for('customers.overview'): the address of a portal page",
    "get_flashed_messages": "get_flashed_messages(): what the last form post flashed",
    "return_to_merchant_url": "return_to_merchant_url(): the safe link back to the merchant's "
                              "site, or None",
    "in_flow": "in_flow(): the deep-link flow (Stripe's session.flow) a portal session holds "
               "this sign-in to, or None; portal_page.html hides the navigation while set",
    "flow_exit_url": "flow_exit_url(): inside a deep-link flow, where links that would leave "
                     "it lead (the merchant's return URL); None outside one",
    "current_staff": "current_staff(): the signed-in dashboard staff member, or None",
    "current_language": "the page's language: current_language.tag (pt-BR, for <html lang>), "
                        ".direction (ltr or rtl) and .code (the catalogue: pt_BR)",
    "language_form": "language_form(): the footer's language switcher form "
                     "(components/language_switcher.html)",
    "request": "Flask's request", "session": "Flask's session", "g": "Flask's g",
    "config": "the app's configuration (read-only; never print secrets)",
}
# Filters and tests the portal adds to Jinja's own.
PORTAL_FILTERS = {
    "money": "{{ amount|money(currency) }}: minor units as money in the customer's locale",
    "date": "{{ value|date }} (or date('short')): a date in the customer's locale",
    "datetime": "{{ value|datetime }}: a date and time",
    "css_color": "{{ value|css_color('#1f4fd1') }}: only #rgb or #rrggbb reaches CSS",
    "text": "{{ message|text }}: a Python text, reworded by texts.html",
}
PORTAL_TESTS = {"http_url": "{% if url is http_url %}: an absolute http(s) address"}

KINDS = ("layout", "page", "fragment", "component", "email", "texts", "own")


@dataclass
class TemplateInfo:
    name: str
    kind: str
    overridden: bool
    blocks: list[str] = field(default_factory=list)
    macros: list[str] = field(default_factory=list)
    extends: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)  # included or imported
    context: list[str] = field(default_factory=list)  # what the view (or includer) passes
    always: list[str] = field(default_factory=list)  # from ALWAYS_PRESENT, used here
    helpers: list[str] = field(default_factory=list)  # an area's helpers (price_text, ...)
    pair: str | None = None  # an email's other part (.txt <-> .html)

    def as_dict(self) -> dict:
        return asdict(self)


def _fixed_names(node) -> list[str]:
    target = node.template
    if isinstance(target, nodes.Const) and isinstance(target.value, str):
        return [target.value]
    if isinstance(target, (nodes.List, nodes.Tuple)):
        return [item.value for item in target.items
                if isinstance(item, nodes.Const) and isinstance(item.value, str)]
    return []


def area_helpers(app: Flask) -> set[str]:
    """Names the blueprints' own context processors add (price_text, status_label, ...)."""
    names: set[str] = set()
    with app.test_request_context():
        for blueprint, processors in app.template_context_processors.items():
            if blueprint is None:
                continue
            for processor in processors:
                try:
                    names |= set(processor())
                except Exception:  # noqa: BLE001, S112 (only the names are wanted)
                    continue
    return names


def inventory(app: Flask) -> list[TemplateInfo]:
    """Every package template and every file under instance/templates, described."""
    designer = designer_for(app)
    # Parsed in an environment without the app's globals: find_undeclared_variables leaves
    # globals out, and url_for and csrf_token are worth listing.
    environment = Environment(extensions=list(app.jinja_env.extensions), autoescape=True)
    environment.filters.update(app.jinja_env.filters)  # the analysis checks they exist
    environment.tests.update(app.jinja_env.tests)
    known = set(app.jinja_env.globals) | {"loop", "super", "caller", "varargs", "kwargs"}
    helpers = area_helpers(app)
    package = designer.package_templates()
    overrides = set(override_files(designer))
    infos: dict[str, TemplateInfo] = {}
    for name in package:
        source, filename, _ = designer.package_loader.get_source(environment, name)
        tree = environment.parse(source, name, filename)
        info = TemplateInfo(name=name, kind="", overridden=name in overrides)
        info.blocks = sorted({block.name for block in tree.find_all(nodes.Block)},
                             key=lambda block: _first_line(tree, block))
        info.macros = [macro.name for macro in tree.find_all(nodes.Macro)]
        info.extends = [n for node in tree.find_all(nodes.Extends) for n in _fixed_names(node)]
        info.includes = sorted({n for kind in (nodes.Include, nodes.Import, nodes.FromImport)
                                for node in tree.find_all(kind) for n in _fixed_names(node)})
        # Blocks are scopes of their own to find_undeclared_variables, so the names the
        # template imports or sets at its top level count as its own too.
        used = meta.find_undeclared_variables(tree) - _top_level_names(tree)
        info.always = sorted(used & ALWAYS_PRESENT.keys())
        info.helpers = sorted(used & helpers)
        info.context = sorted(used - ALWAYS_PRESENT.keys() - helpers - known)
        infos[name] = info
    extended = {parent.removeprefix(ORIGINAL_PREFIX + "/")
                for info in infos.values() for parent in info.extends}
    for info in infos.values():
        info.kind = _kind(info.name, info.name in extended)
        if info.kind == "email":
            stem, _, suffix = info.name.rpartition(".")
            other = f"{stem}.{'html' if suffix == 'txt' else 'txt'}"
            info.pair = other if other in infos else None
    for name in sorted(overrides - set(package)):
        infos[name] = TemplateInfo(name=name, kind="own", overridden=True)
    return [infos[name] for name in sorted(infos, key=_sort_key)]


def _top_level_names(tree: nodes.Template) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, nodes.FromImport):
            names |= {item[1] if isinstance(item, tuple) else item for item in node.names}
        elif isinstance(node, nodes.Import):
            names.add(node.target)
        elif isinstance(node, (nodes.Assign, nodes.AssignBlock)):
            names |= {name.name for name in node.target.find_all(nodes.Name)} | (
                {node.target.name} if isinstance(node.target, nodes.Name) else set())
        elif isinstance(node, nodes.Macro):
            names.add(node.name)
    return names


def _first_line(tree, block_name: str) -> int:
    for block in tree.find_all(nodes.Block):
        if block.name == block_name:
            return block.lineno
    return 0


def _kind(name: str, is_extended: bool) -> str:
    base = name.rsplit("/", 1)[-1]
    if name == TEXTS_TEMPLATE:
        return "texts"
    if is_extended:
        return "layout"
    if name.startswith("emails/"):
        return "email"
    if base.startswith("_"):
        return "fragment"
    if name.startswith("components/"):
        return "component"
    return "page"


def _sort_key(name: str):
    # Top-level files (layout.html, texts.html) first, then by folder.
    return ("/" in name, name)
