"""The serializer registry: which function writes which model as which Stripe object.

See the package docstring (``portal/objects/__init__.py``) for how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

# fn(session, obj, ctx) -> dict; preload(session, objs) -> ctx (shared by every obj of a batch)
SerializeFn = Callable[[Session, Any, Any], dict]
PreloadFn = Callable[[Session, Sequence[Any]], Any]


@dataclass(frozen=True)
class Serializer:
    model: type
    object_name: str
    fn: SerializeFn
    preload: PreloadFn | None = None


_BY_MODEL: dict[type, Serializer] = {}
_BY_NAME: dict[str, Serializer] = {}


def serializer(model: type, object_name: str, *, preload: PreloadFn | None = None):
    """Register ``fn(session, obj, ctx) -> dict`` as the writer of ``model`` instances as
    Stripe's ``object_name``. ``preload(session, objs)`` (optional) runs once per batch with
    every object of that batch and returns ``ctx``: it loads what the objects need in a
    fixed number of queries (never one per row), so lists of 100 cost what one costs."""

    def register(fn: SerializeFn) -> SerializeFn:
        if object_name in _BY_NAME and _BY_NAME[object_name].model is not model:
            raise ValueError(f"{object_name!r} is already serialized from "
                             f"{_BY_NAME[object_name].model.__name__}")
        entry = Serializer(model=model, object_name=object_name, fn=fn, preload=preload)
        _BY_MODEL[model] = entry
        _BY_NAME[object_name] = entry
        return fn

    return register


def entry_for_model(model: type) -> Serializer:
    for klass in model.__mro__:
        if klass in _BY_MODEL:
            return _BY_MODEL[klass]
    raise LookupError(f"no Stripe serializer for {model.__name__}")


def entry_for_name(object_name: str) -> Serializer | None:
    return _BY_NAME.get(object_name)


def object_names() -> list[str]:
    return sorted(_BY_NAME)


def _needs_flush(objs: Iterable[Any]) -> bool:
    for obj in objs:
        state = inspect(obj, raiseerr=False)
        if state is not None and state.pending:
            return True
    return False


def serialize_many(session: Session, objs: Sequence[Any]) -> list[dict]:
    """Serialize ``objs`` in order, with one preload per model class in the batch."""
    objs = list(objs)
    if not objs:
        return []
    if _needs_flush(objs):  # ids and column defaults (created) are filled in by the flush
        session.flush()
    groups: dict[Serializer, list[Any]] = {}
    for obj in objs:
        groups.setdefault(entry_for_model(type(obj)), []).append(obj)
    results: dict[int, dict] = {}
    from portal.objects.common import load

    for entry, members in groups.items():
        # Rows expired by a commit are refreshed together here, not one query each on first use.
        load(session, entry.model, members, needs=())
        ctx = entry.preload(session, members) if entry.preload else None
        for obj in members:
            results[id(obj)] = entry.fn(session, obj, ctx)
    return [results[id(obj)] for obj in objs]


def serialize(session: Session, obj: Any) -> dict:
    """``obj`` (a model instance) as its Stripe object."""
    return serialize_many(session, [obj])[0]


def serialize_by_id(session: Session, object_type: str, object_id: str) -> dict | None:
    """The Stripe object ``object_type`` ("customer", "invoice", ...) with id ``object_id``,
    or None when there is none (or the type is unknown)."""
    entry = entry_for_name(object_type)
    if entry is None or not isinstance(object_id, str):
        return None
    obj = session.get(entry.model, object_id)
    return None if obj is None else serialize(session, obj)
