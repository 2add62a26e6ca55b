"""The texts Python code shows customers, found by reading the portal's source, so a designer
knows what ``texts.html`` can reword.

Found where a text is flashed, passed as a validator's or a refusal's ``message``, raised as a
``...Refused``/``...Error``/``ValidationError``, given as an email ``subject=``, a field's label,
assigned to a ``message``/``notice``/``reason`` variable, or kept in a ``...MESSAGES`` table or
the error pages' ``PAGES``; and every text given to Flask-Babel's ``_()``/``_l()``/``gettext()``/
``lazy_gettext()``/``ngettext()`` (both forms) or marked with ``N_()``, wherever it is. An
f-string's values, and a gettext text's ``%(name)s`` placeholders, become ``{placeholders}``,
which is how a texts.html pattern matches them (texts.html rewords the text as shown, after
translation). Texts a function builds in pieces appear as their pieces.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

PORTAL_DIR = Path(__file__).resolve().parent.parent
# Operator-facing or not the portal's pages: commands, the demo's seed data, development tools.
_SKIPPED = ("cli.py", "billing/cli.py", "demo.py", "config.py", "devtools/", "designer/")

_MESSAGE_VARIABLE = re.compile(r"(^|_)(message|messages|notice|reason|refusal|error|title)$",
                               re.IGNORECASE)
_MESSAGE_KEYWORDS = {"message", "notice_message", "reason", "failure_message", "error"}
_TABLE_NAME = re.compile(r"(MESSAGES|^PAGES)$")
_STR_METHODS = {"lower", "upper", "title", "capitalize", "strip"}
# Flask-Babel's functions (as the portal imports them) and the argument positions of their texts.
_GETTEXT = {"_": (0,), "_l": (0,), "gettext": (0,), "lazy_gettext": (0,), "N_": (0,),
            "ngettext": (0, 1), "lazy_ngettext": (0, 1), "pgettext": (1,), "lazy_pgettext": (1,)}
# %(name)s, %(num)d, ... and the %% that stands for one %.
_GETTEXT_PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%%")


def _from_gettext(text: str) -> str:
    """A gettext text as texts.html patterns write it: "Tax ID %(value)s" -> "Tax ID {value}"."""
    return _GETTEXT_PLACEHOLDER.sub(lambda m: "%" if m[0] == "%%" else "{" + m[1] + "}", text)


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) else "")


@dataclass
class PythonText:
    text: str
    kind: str
    places: list[str] = field(default_factory=list)  # "portal/login/forms.py:28"

    def as_dict(self) -> dict:
        return {"text": self.text, "kind": self.kind, "places": self.places}


def _placeholder(expr: ast.expr) -> str:
    while True:
        if isinstance(expr, ast.Call):
            if isinstance(expr.func, ast.Attribute) and expr.func.attr in _STR_METHODS:
                expr = expr.func.value
                continue
            expr = expr.func
            continue
        if isinstance(expr, ast.Attribute):
            name = expr.attr
        elif isinstance(expr, ast.Name):
            name = expr.id
        elif isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant):
            name = str(expr.slice.value)
        else:
            name = "value"
        return name.strip("_").lower() or "value"


class _Collector(ast.NodeVisitor):
    def __init__(self, place: str, constants: dict[str, str],
                 message_params: dict[str, int]) -> None:
        self.place = place
        self.constants = constants
        self.message_params = message_params  # this module's functions taking a message
        self.found: list[tuple[str, str, int]] = []

    # -- turning an expression into texts --
    def texts(self, expr) -> list[str]:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [expr.value]
        if isinstance(expr, ast.JoinedStr):
            names: dict[str, int] = {}
            parts = []
            for value in expr.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                elif isinstance(value, ast.FormattedValue):
                    name = _placeholder(value.value)
                    names[name] = names.get(name, 0) + 1
                    parts.append("{" + (name if names[name] == 1 else f"{name}_{names[name]}")
                                 + "}")
            return ["".join(parts)]
        if isinstance(expr, ast.Name) and expr.id in self.constants:
            return [self.constants[expr.id]]
        if isinstance(expr, ast.Call):
            name = _call_name(expr)
            if name in _GETTEXT:
                return [_from_gettext(expr.args[i].value) for i in _GETTEXT[name]
                        if i < len(expr.args) and isinstance(expr.args[i], ast.Constant)
                        and isinstance(expr.args[i].value, str)]
            if name == "str" and len(expr.args) == 1:  # str(_l("...")) for a flash
                return self.texts(expr.args[0])
            return []
        if isinstance(expr, ast.IfExp):
            return self.texts(expr.body) + self.texts(expr.orelse)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            left, right = self.texts(expr.left), self.texts(expr.right)
            if left and right:
                return [a + b for a in left for b in right]
            return left + right
        if isinstance(expr, (ast.Tuple, ast.List)):
            return [text for item in expr.elts for text in self.texts(item)]
        return []

    def add(self, expr, kind: str, line: int) -> None:
        for text in self.texts(expr):
            self.found.append((text, kind, line))

    # -- where texts are --
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = _call_name(node)
        if name in _GETTEXT:
            # Wherever it is, a text given to gettext is shown to someone; a place below that
            # says what kind of text it is (a flash, a label) was visited first and named it.
            self.add(node, "text", node.lineno)
            self.generic_visit(node)  # its keywords are values, not texts
            return
        if name == "flash" and node.args:
            self.add(node.args[0], "flash message", node.lineno)
        elif name in self.message_params and len(node.args) > self.message_params[name]:
            self.add(node.args[self.message_params[name]], "message", node.lineno)
        elif name.endswith(("Refused", "Error", "StopValidation")) and name not in ("ValueError", "TypeError",
                                                                  "KeyError", "RuntimeError"):
            kind = ("validation message" if name in ("ValidationError", "StopValidation")
                    else "refusal")
            for arg in node.args:
                self.add(arg, kind, node.lineno)
        elif name.endswith("Field") and node.args:
            self.add(node.args[0], "field label", node.lineno)
        elif name == "append" and isinstance(func, ast.Attribute) and node.args:
            receiver = func.value
            if isinstance(receiver, ast.Attribute) and receiver.attr in ("errors", "form_errors"):
                self.add(node.args[0], "validation message", node.lineno)
        for keyword in node.keywords:
            if keyword.arg == "subject":
                self.add(keyword.value, "email subject", node.lineno)
            elif keyword.arg in _MESSAGE_KEYWORDS:
                kind = "validation message" if name[:1].isupper() and name.isidentifier() \
                    and not name.endswith(("Refused", "Error")) else "message"
                self.add(keyword.value, kind, node.lineno)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assigned(target, node.value, node.lineno)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._assigned(node.target, node.value, node.lineno)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._assigned(node.target, node.value, node.lineno)
        self.generic_visit(node)

    def _assigned(self, target, value, line: int) -> None:
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            for one_target, one_value in zip(target.elts, value.elts, strict=False):
                self._assigned(one_target, one_value, line)
            return
        name = target.id if isinstance(target, ast.Name) else (
            target.attr if isinstance(target, ast.Attribute) else "")
        if _TABLE_NAME.search(name) and isinstance(value, ast.Dict):
            kind = "error page" if name == "PAGES" else "message"
            for item in value.values:
                self.add(item, kind, getattr(item, "lineno", line))
        elif _MESSAGE_VARIABLE.search(name):
            self.add(value, "message", line)


def _is_customer_text(text: str) -> bool:
    """A sentence or a label, not an identifier, a format for the log or markup."""
    stripped = text.strip()
    if not stripped or "%s" in text or "%r" in text or "%(" in text or "<" in text:
        return False
    first = stripped[0]
    return (first.isupper() or first.isdigit() or first == "{") and (
        " " in stripped or stripped[0].isupper())


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            constants[node.targets[0].id] = node.value.value
    return constants


def _message_params(tree: ast.Module) -> dict[str, int]:
    """Functions of the module that take a message: ``_save(customer, section, form, changes,
    message)`` -> {"_save": 4}, so the texts their callers pass are found."""
    params = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for index, arg in enumerate(node.args.args):
                if arg.arg in ("message", "notice"):
                    params[node.name] = index
    return params


def python_texts(root: Path = PORTAL_DIR) -> list[PythonText]:
    """Every customer-facing text found in the portal's Python source, once each."""
    found: dict[str, PythonText] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(_SKIPPED) or relative in _SKIPPED or "/migrations/" in relative:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        place = f"portal/{relative}"
        collector = _Collector(place, _module_constants(tree), _message_params(tree))
        collector.visit(tree)
        for text, kind, line in collector.found:
            if not _is_customer_text(text):
                continue
            entry = found.setdefault(text, PythonText(text=text, kind=kind))
            where = f"{place}:{line}"
            if where not in entry.places:
                entry.places.append(where)
    return sorted(found.values(), key=lambda entry: (entry.places[0].rsplit(":", 1)[0],
                                                     int(entry.places[0].rsplit(":", 1)[1])))
