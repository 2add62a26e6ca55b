"""Stripe's request parameters: nested form keys in, checked and typed values out.

Stripe's clients send ``application/x-www-form-urlencoded`` bodies (and query strings) with
nested keys: ``metadata[plan]=pro``, ``items[0][price]=price_...``, ``expand[]=customer``. They
are first unflattened into dicts (:func:`unflatten`), then every endpoint's parameters are
declared once with the types below, which both check a request (unknown names refused,
types, limits, Stripe's messages and param paths) and describe it in the OpenAPI document
(:meth:`Param.schema`). An empty string means "unset" on Stripe's wire: a type returns
:data:`UNSET` for it where unsetting makes sense, and refuses it otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from portal.api.errors import ApiError

# The value of a parameter sent as "" (unset it), and of one not sent at all.
UNSET = type("Unset", (), {"__repr__": lambda self: "UNSET", "__bool__": lambda self: False})()
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
MAX_DEPTH = 5
MAX_LIST = 100


def invalid(message: str, param: str | None, code: str = "parameter_invalid") -> ApiError:
    """A 400 invalid_request_error naming the parameter."""
    return ApiError(400, message, code=code, param=param)


def unflatten(pairs: Iterable[tuple[str, str]]) -> dict:
    """``[("items[0][price]", "p")]`` -> ``{"items": {"0": {"price": "p"}}}``; ``a[]`` appends."""
    result: dict = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if not match:
            raise invalid(f"Invalid parameter name: {key}", key, "parameter_unknown")
        path = [match.group(1), *_PART.findall(match.group(2))]
        if len(path) > MAX_DEPTH + 1:
            raise invalid(f"Parameter nested too deeply: {key}", key)
        node = result
        for depth, part in enumerate(path[:-1]):
            following = path[depth + 1]
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = [] if following == "" else {}
                _put(node, part, child, key)
            elif isinstance(child, str) or (isinstance(child, list) and following != ""):
                raise invalid(f"Invalid value for {key}: {_shown(path[:depth + 1])} was sent "
                              "both as a value and as a hash", key)
            node = child
        _put(node, path[-1], value, key)
    return result


def _put(node, part: str, value, key: str) -> None:
    if isinstance(node, list):
        if part != "":
            raise invalid(f"Invalid parameter name: {key}", key, "parameter_unknown")
        if len(node) >= MAX_LIST:
            raise invalid(f"Too many values for {key}", key)
        node.append(value)
        return
    if part == "":
        raise invalid(f"Invalid parameter name: {key}", key, "parameter_unknown")
    if part in node and (isinstance(node[part], (dict, list)) or isinstance(value, (dict, list))):
        raise invalid(f"Invalid value for {key}: sent both as a value and as a hash", key)
    node[part] = value  # a repeated scalar key: the last one wins, as on Stripe


def _shown(path: list[str]) -> str:
    return path[0] + "".join(f"[{part}]" for part in path[1:])


# ---- types ---------------------------------------------------------------------------------------

@dataclass
class Param:
    """One parameter: ``parse`` checks a raw value (str, dict or list) at ``path``."""

    description: str = ""
    required: bool = False
    nullable: bool = False  # "" unsets it (returns UNSET)

    def parse(self, raw: Any, path: str) -> Any:
        if raw == "":
            if self.nullable:
                return UNSET
            raise invalid(
                f"You passed an empty string for '{path}'. We assume empty values are an "
                f"attempt to unset a parameter; however '{path}' cannot be unset. You should "
                f"remove '{path}' from your request or supply a non-empty value.",
                path, "parameter_invalid_empty")
        return self.convert(raw, path)

    def convert(self, raw: Any, path: str) -> Any:
        return raw

    def schema(self) -> dict:
        return {"description": self.description} if self.description else {}

    def _scalar(self, raw: Any, path: str, kind: str) -> str:
        if not isinstance(raw, str):
            raise invalid(f"Invalid {kind}: {path} must be a single value, not a hash or list",
                          path, f"parameter_invalid_{kind}")
        return raw


@dataclass
class String(Param):
    max_length: int = 5000
    enum: tuple[str, ...] | None = None

    def convert(self, raw, path):
        value = self._scalar(raw, path, "string")
        if "\x00" in value:
            raise invalid(f"Invalid string: {path} must not contain NUL characters", path,
                          "parameter_invalid_string")
        if self.enum is not None and value not in self.enum:
            raise invalid(f"Invalid {path}: must be one of {', '.join(self.enum)}", path,
                          "parameter_invalid_string")
        if len(value) > self.max_length:
            raise invalid(f"Invalid string: {value[:20]}...; must be at most "
                          f"{self.max_length} characters", path, "parameter_invalid_string")
        return value

    def schema(self):
        schema = {"type": "string", "maxLength": self.max_length, **super().schema()}
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        return schema


@dataclass
class Id(String):
    """An object id such as ``cus_...`` given as a parameter: looked up by the endpoint. One
    that cannot be an id names nothing: 400 ``resource_missing``, as Stripe answers for a
    parameter (a 404 is for the URL's own id)."""

    max_length: int = 64

    def convert(self, raw, path):
        value = super().convert(raw, path)
        if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
            raise ApiError(400, f"No such {_object_of(path)}: '{value}'",
                           code="resource_missing", param=path)
        return value


def _object_of(path: str) -> str:
    """``customer`` for ``customer``, ``price`` for ``items[0][price]``."""
    return path.rstrip("]").rsplit("[", 1)[-1]


@dataclass
class Integer(Param):
    minimum: int | None = None
    maximum: int | None = 10**12

    def convert(self, raw, path):
        value = self._scalar(raw, path, "integer")
        if not re.fullmatch(r"-?[0-9]{1,19}", value):
            raise invalid(f"Invalid integer: {value[:40]}", path, "parameter_invalid_integer")
        number = int(value)
        if self.minimum is not None and number < self.minimum:
            raise invalid(f"This value must be greater than or equal to {self.minimum}.", path,
                          "parameter_invalid_integer")
        if self.maximum is not None and number > self.maximum:
            raise invalid(f"This value must be less than or equal to {self.maximum}.", path,
                          "parameter_invalid_integer")
        return number

    def schema(self):
        schema = {"type": "integer", **super().schema()}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


@dataclass
class Boolean(Param):
    def convert(self, raw, path):
        value = self._scalar(raw, path, "boolean")
        if value not in ("true", "false"):
            raise invalid(f"Invalid boolean: {value[:40]}", path, "parameter_invalid_boolean")
        return value == "true"

    def schema(self):
        return {"type": "boolean", **super().schema()}


@dataclass
class Timestamp(Param):
    """A Unix time; ``now`` too when ``allow_now``."""

    allow_now: bool = False

    def convert(self, raw, path):
        value = self._scalar(raw, path, "integer")
        if self.allow_now and value == "now":
            return "now"
        number = Integer(minimum=0, maximum=253402300799).convert(value, path)
        return datetime.fromtimestamp(number, UTC)

    def schema(self):
        schema = {"type": "integer", "minimum": 0, **super().schema()}
        if self.allow_now:
            schema = {"anyOf": [schema, {"type": "string", "enum": ["now"]}]}
        return schema


@dataclass
class Metadata(Param):
    """Stripe's metadata: up to 50 keys of 40 characters, values of 500; "" unsets a key."""

    nullable: bool = True

    def convert(self, raw, path):
        if not isinstance(raw, dict):
            raise invalid("Invalid object", path, "parameter_invalid_object")
        if len(raw) > 50:
            raise invalid("Metadata can have up to 50 keys.", path)
        clean = {}
        for key, value in raw.items():
            if not isinstance(value, str):
                raise invalid(f"Invalid value for {path}[{key}]: metadata values are strings",
                              f"{path}[{key}]")
            if len(key) > 40 or "\x00" in key:
                raise invalid(f"Metadata keys can have up to 40 characters: {key[:40]}",
                              f"{path}[{key}]")
            if len(value) > 500 or "\x00" in value:
                raise invalid(f"Metadata values can have up to 500 characters: {key}",
                              f"{path}[{key}]")
            clean[key] = value
        return clean

    def schema(self):
        return {"type": "object", "additionalProperties": {"type": "string", "maxLength": 500},
                "maxProperties": 50, **super().schema()}


@dataclass
class Object(Param):
    fields: dict[str, Param] = field(default_factory=dict)

    def convert(self, raw, path):
        if not isinstance(raw, dict):
            raise invalid(f"Invalid object: {path} must be a hash", path,
                          "parameter_invalid_object")
        return parse_fields(self.fields, raw, prefix=path)

    def schema(self):
        return object_schema(self.fields) | super().schema()


@dataclass
class List(Param):
    item: Param = field(default_factory=String)
    max_items: int = MAX_LIST

    def convert(self, raw, path):
        if isinstance(raw, dict):  # items[0][...], items[1][...]: ordered by index
            if not all(re.fullmatch(r"[0-9]{1,3}", key) for key in raw):
                raise invalid(f"Invalid array: {path} must be a list", path,
                              "parameter_invalid_array")
            raw = [raw[key] for key in sorted(raw, key=int)]
        elif isinstance(raw, str):
            raise invalid(f"Invalid array: {path} must be a list", path,
                          "parameter_invalid_array")
        if len(raw) > self.max_items:
            raise invalid(f"Invalid array: {path} can have up to {self.max_items} items", path,
                          "parameter_invalid_array")
        return [self.item.parse(value, f"{path}[{index}]") for index, value in enumerate(raw)]

    def schema(self):
        return {"type": "array", "items": self.item.schema(), "maxItems": self.max_items,
                **super().schema()}


@dataclass
class TimestampRange(Param):
    """Stripe's ``created``-style filter: a Unix time (exactly then) or a hash of ``gt``,
    ``gte``, ``lt``, ``lte``; parsed to ``{"gte": datetime, ...}`` (an exact time as both
    ``gte`` and ``lte``)."""

    def convert(self, raw, path):
        if isinstance(raw, str):
            moment = Timestamp().convert(raw, path)
            return {"gte": moment, "lte": moment}  # the whole second
        fields = {name: Timestamp() for name in ("gt", "gte", "lt", "lte")}
        return Object(fields=fields).convert(raw, path)

    def schema(self):
        bound = {"type": "integer", "minimum": 0}
        return {"anyOf": [bound, {"type": "object", "additionalProperties": False,
                                  "properties": dict.fromkeys(("gt", "gte", "lt", "lte"),
                                                              bound)}],
                **super().schema()}


def range_conditions(column, bounds: dict) -> list:
    """SQL conditions on ``column`` for a parsed :class:`TimestampRange`. Stripe's times are
    whole seconds and the portal's are finer: a moment belongs to the second it is shown as
    (``created`` 10.5 s is 10), so ``lte 10`` includes it and ``gt 10`` does not."""
    second = timedelta(seconds=1)
    conditions = []
    for name, value in bounds.items():
        if name == "gt":
            conditions.append(column >= value + second)
        elif name == "gte":
            conditions.append(column >= value)
        elif name == "lt":
            conditions.append(column < value)
        else:
            conditions.append(column < value + second)
    return conditions


@dataclass
class Refused(Param):
    """A parameter of Stripe's that this portal knows and does not do here: any value is
    refused with ``reason`` (better than "unknown parameter" for a name a client may send)."""

    reason: str = ""

    def parse(self, raw, path):
        raise invalid(f"Unsupported parameter: {path}. {self.reason}".strip(), path,
                      "parameter_unknown")

    def schema(self):
        return {"not": {}, "description": self.reason}


def parse_fields(fields: dict[str, Param], raw: dict, *, prefix: str = "") -> dict:
    """Check ``raw`` against ``fields``: unknown names refused, required ones present."""
    def at(name: str) -> str:
        return f"{prefix}[{name}]" if prefix else name

    for name in raw:
        if name not in fields and name in UNSUPPORTED:
            raise invalid(f"Unsupported parameter: {at(name)}. {UNSUPPORTED[name]}", at(name),
                          "parameter_unknown")
        if name not in fields:
            raise invalid(f"Received unknown parameter: {at(name)}", at(name),
                          "parameter_unknown")
    values = {}
    for name, param in fields.items():
        if name in raw:
            values[name] = param.parse(raw[name], at(name))
        elif param.required:
            raise invalid(f"Missing required param: {at(name)}.", at(name), "parameter_missing")
    return values


def object_schema(fields: dict[str, Param]) -> dict:
    """The OpenAPI schema of a set of parameters."""
    schema: dict = {"type": "object", "additionalProperties": False,
                    "properties": {name: param.schema() for name, param in fields.items()}}
    required = [name for name, param in fields.items() if param.required]
    if required:
        schema["required"] = required
    return schema


# The parameters every list endpoint takes.
LIST_PARAMS: dict[str, Param] = {
    "limit": Integer(minimum=1, maximum=100,
                     description="How many objects to return, 1 to 100 (10 by default)."),
    "starting_after": String(max_length=64, description="The id after which the page starts."),
    "ending_before": String(max_length=64, description="The id before which the page ends."),
}
# Stripe parameters this portal knows but does not do: refused with a reason, not as unknown.
UNSUPPORTED = {
    "expand": "This API does not expand objects: related objects are given by id; retrieve "
              "them with their own endpoints.",
    "stripe_account": "This API serves one merchant: there are no connected accounts.",
}


def merged_metadata(current: dict | None, given) -> dict:
    """Stripe's metadata update: given keys are set, a key given as "" is removed, the rest
    stay; ``metadata=""`` (UNSET) removes them all."""
    if given is UNSET:
        return {}
    merged = dict(current or {})
    for key, value in given.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
