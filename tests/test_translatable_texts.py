"""Every text the portal's Python code shows a customer goes through Flask-Babel, so the
catalogues can translate it.

The check reads the source (as `flask templates texts` does) and flags a customer-facing
place given a plain string or an f-string instead of a gettext call: flash(), a validation
message or refusal, a validator's ``message=``, an email ``subject=``, a notice, a WTForms
field's label, description and choices, and the ``...MESSAGES``/``...LABELS`` tables.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parent.parent / "portal"

# English only: the dashboard, the designers' and developers' tools, the operators' commands,
# the demo's seed data and the configuration checks. The PDF is another change's.
OUT_OF_SCOPE = ("admin/", "designer/", "devtools/", "cli.py", "billing/cli.py", "demo.py",
                "config.py", "invoices/pdf.py", "i18n_cli.py")
# Staff-facing refusals in modules customers' pages also import from (module: why).
STAFF_ONLY = {
    "catalog/operations.py": "catalog writes are the dashboard's",
    "catalog/tax_codes.py": "tax codes are picked by staff in the dashboard",
    "portal_settings/operations.py": "the portal configuration and branding are the dashboard's",
    "images.py": "images are uploaded by staff in the dashboard",
    "reporting/": "the dashboard's reports",
    "objects/": "Stripe-shaped JSON and its schemas, read by the merchant's code, in English as Stripe's",
    "api/": "the /v1 API answers the merchant's code, in English as Stripe's",
    "integration/": "API keys and idempotency are the merchant's (CLI, dashboard, API)",
    "customers/operations.py:create_customer": "creating customers is the dashboard's",
    "webhooks/": "webhook endpoints are the merchant's (the dashboard and the API)",
    "portal_settings/sessions.py": "billing portal sessions are made by the merchant's server "
                                   "through the API, whose errors are Stripe's English",
}

TRANSLATING = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext", "N_", "shown",
               "pgettext", "lazy_pgettext"}
REFUSALS = ("Refused", "ValidationError", "StopValidation", "CardError", "InvalidTaxId")
TEXT_KEYWORDS = {"message", "subject", "notice", "notice_message", "label", "description",
                 "invalid_choice_message", "reason", "error", "refusal"}
TABLES = ("MESSAGES", "LABELS", "PAGES")
# Calls whose argument at that position is a text shown to customers.
CUSTOMER_TEXT_CALLS = {"UpdateOptions": 0}
# Functions in scope that only build log lines or staff/operator texts, by module.
STAFF_FUNCTIONS = {
    # The merchant's writes (dashboard and API), English like the dashboard.
    "customers/operations.py": {"_text_value", "checked_email", "create_customer",
                                "update_customer", "delete_customer", "_address_part",
                                "_checked_address", "_checked_shipping", "_shipping_text",
                                "checked_locales", "_default_card"},
    "billing/charging.py": {"_describe", "_collected", "collect", "_label", "collect_invoice"},
    "billing/engine.py": None,  # the run's log and summary are the operator's
    # Starting subscriptions is the dashboard's (and later the API's).
    # The merchant's changes through the API are English, as the API is.
    "subscriptions/operations.py": {"start_subscription", "_checked_start", "_replayed_start",
                                    "_started_id", "merchant_plan_change",
                                    "change_subscription_items", "set_cancel_at_period_end",
                                    "cancel_subscription_now", "_checked_feedback",
                                    "update_subscription_details"},
    "invoices/operations.py": {"void_invoice"},  # the merchant's (the API's)
    "catalog/pricing.py": {"parse_amount"},  # amounts typed by merchants
}


# Texts in scope that stay English on purpose: (module, place) -> why.
LEFT_ENGLISH = {
    ("customers/operations.py", "EMAIL_FORMAT_MESSAGE"): "create_customer's, the dashboard's",
    ("invoices/operations.py", "description="): "the processor's record of a charge",
}


def _in_scope(relative: str) -> bool:
    return not (relative.startswith(OUT_OF_SCOPE) or relative in OUT_OF_SCOPE
                or any(relative.startswith(prefix) for prefix in STAFF_ONLY
                       if ":" not in prefix))


def _looks_like_words(text: str) -> bool:
    """A sentence or a label, not an identifier ("invalid_key"), a code or a format."""
    stripped = text.strip()
    return bool(stripped) and (" " in stripped or stripped[0].isupper()) and "%" not in text \
        and not stripped.startswith(("<", "/"))


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) else "")


def untranslated(expr) -> list[ast.AST]:
    """The plain strings and f-strings in ``expr`` a customer would read untranslated."""
    if expr is None:
        return []
    if isinstance(expr, ast.Constant):
        return [expr] if isinstance(expr.value, str) and _looks_like_words(expr.value) else []
    if isinstance(expr, ast.JoinedStr):
        literal = "".join(v.value for v in expr.values if isinstance(v, ast.Constant))
        return [expr] if literal.strip() and not literal.startswith("<") else []
    if isinstance(expr, ast.Call):
        return []  # translated (or built) by the function it calls
    if isinstance(expr, ast.IfExp):
        return untranslated(expr.body) + untranslated(expr.orelse)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Mod)):
        return untranslated(expr.left) + untranslated(expr.right)
    if isinstance(expr, (ast.Tuple, ast.List)):
        return [found for item in expr.elts for found in untranslated(item)]
    return []


def _message_params(tree: ast.Module) -> dict[str, int]:
    """The module's functions that take a message (``not_a_card_number(message)``), by the
    position of that argument."""
    params = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for index, arg in enumerate(node.args.args):
                if arg.arg in ("message", "notice", "notice_message", "subject"):
                    params[node.name] = index
    return params


class _Finder(ast.NodeVisitor):
    def __init__(self, relative: str, message_params: dict[str, int] | None = None) -> None:
        self.relative = relative
        self.skipped = STAFF_FUNCTIONS.get(relative, set())
        self.message_params = message_params or {}
        self.functions: list[str] = []
        self.found: list[tuple[int, str]] = []

    def flag(self, expr, where: str) -> None:
        if self.skipped is None or self.skipped & set(self.functions):
            return
        if (self.relative, where) in LEFT_ENGLISH:
            return
        for node in untranslated(expr):
            self.found.append((node.lineno, f"{where}: {ast.unparse(node)[:70]}"))

    def visit_FunctionDef(self, node) -> None:
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    def visit_Return(self, node: ast.Return) -> None:
        # What a "why not" function answers is shown as it is (cancel_refusal, _quantity_message).
        if self.functions and self.functions[-1].endswith(("refusal", "message", "reason")):
            self.flag(node.value, f"{self.functions[-1]}() answer")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node)
        if name in TRANSLATING:
            return  # its arguments are the msgids
        if name == "flash" and node.args:
            self.flag(node.args[0], "flash()")
        elif name in self.message_params and len(node.args) > self.message_params[name]:
            self.flag(node.args[self.message_params[name]], f"{name}() message")
        elif name.endswith(REFUSALS):
            for arg in node.args:
                self.flag(arg, f"{name}()")
        elif name.endswith("Field") and node.args:
            self.flag(node.args[0], f"{name} label")
        elif name == "append" and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Attribute) \
                and node.func.value.attr in ("errors", "form_errors") and node.args:
            self.flag(node.args[0], "form error")
        elif name in CUSTOMER_TEXT_CALLS and len(node.args) > CUSTOMER_TEXT_CALLS[name]:
            self.flag(node.args[CUSTOMER_TEXT_CALLS[name]], f"{name}()")
        elif name in ("SelectChoice", "_choices") and len(node.args) > 1:
            self.flag(node.args[1], "choice")
        for keyword in node.keywords:
            if keyword.arg in TEXT_KEYWORDS:
                self.flag(keyword.value, f"{keyword.arg}=")
            elif keyword.arg == "choices" and isinstance(keyword.value, (ast.List, ast.Tuple)):
                for choice in keyword.value.elts:
                    if isinstance(choice, ast.Tuple) and len(choice.elts) == 2:
                        self.flag(choice.elts[1], "choice")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assigned(target, node.value)
        self.generic_visit(node)

    def _assigned(self, target, value) -> None:
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            for one_target, one_value in zip(target.elts, value.elts, strict=False):
                self._assigned(one_target, one_value)
            return
        name = target.id if isinstance(target, ast.Name) else (
            target.attr if isinstance(target, ast.Attribute) else "")
        if name.endswith(TABLES) and isinstance(value, ast.Dict):
            for item in value.values:
                self.flag(item, name)
        elif name.lower().endswith(("message", "notice", "refusal", "reason")):
            self.flag(value, name)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._assigned(node.target, node.value)
        self.generic_visit(node)


def untranslated_texts(root: Path = PORTAL) -> list[str]:
    """"portal/x.py:12 flash(): 'Saved'" for each customer-facing text not wrapped."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if not _in_scope(relative):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        finder = _Finder(relative, _message_params(tree))
        finder.visit(tree)
        problems += [f"portal/{relative}:{line} {what}" for line, what in finder.found]
    return problems


def test_every_customer_facing_python_text_goes_through_gettext():
    problems = untranslated_texts()
    assert problems == [], (
        "wrap these in _() (in a request) or _l() (at import time), with %(name)s "
        "placeholders:\n" + "\n".join(problems))


@pytest.mark.parametrize("source", [
    'flash("Your name has been updated", "success")',
    'flash(f"Tax ID {value} has been added")',
    'raise ValidationError("Enter the card number")',
    'x = StringField("Name on card")',
    'x = DataRequired(message="Enter your name")',
    'enqueue_email(session, to=to, subject=f"Your code for {name}")',
    'message = "Saved" if ok else _("Removed")',
    'STATUS_LABELS = {"paid": "Paid"}',
    'x = SelectField(_l("Type"), choices=[("", "Select a type")])',
    'form.form_errors.append("This form has expired.")',
    'lengths, message = (4,), "Enter the 4-digit security code"',
    'message += " It is your default payment method."',
    'def cancel_refusal(s):\n    return "This subscription has already ended."',
    'x = UpdateOptions(f"Your {name} plan cannot be changed here.")',
    'def check(message):\n    pass\nx = check("Enter the name on the card here")',
])
def test_the_check_finds_a_text_that_is_not_wrapped(tmp_path, source):
    (tmp_path / "module.py").write_text(source + "\n")
    assert len(untranslated_texts(tmp_path)) == 1


@pytest.mark.parametrize("source", [
    'flash(_("Your name has been updated"), "success")',
    'flash(_("Tax ID %(value)s has been added", value=value))',
    'raise ValidationError(_l("Enter the card number"))',
    'x = StringField(_l("Name on card"))',
    'enqueue_email(session, subject=_l("Your code for %(name)s", name=name))',
    'raise PaymentRefused("invalid_key", _("Reload the page and try again."))',
    'DECLINE_MESSAGES = {"card_declined": N_("Your card was declined.")}',
    'message = ngettext("%(num)d try left", "%(num)d tries left", n)',
])
def test_the_check_passes_wrapped_texts_and_codes(tmp_path, source):
    (tmp_path / "module.py").write_text(source + "\n")
    assert untranslated_texts(tmp_path) == []
