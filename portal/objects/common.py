"""What every serializer shares: timestamps, livemode, addresses, list objects, public URLs,
and batch loading."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

# The Stripe API version these objects follow: the one stripe-python 16.1.0 pins
# (``stripe.api_version``). Events and the OpenAPI document name it.
API_VERSION = "2026-10-28.endive"


def ts(value: datetime | None) -> int | None:
    """A Unix timestamp (whole seconds), as Stripe writes every moment."""
    return None if value is None else int(value.timestamp())


def livemode() -> bool:
    """``API_LIVEMODE`` in the app config; true unless the merchant says otherwise."""
    if has_app_context():
        return bool(current_app.config.get("API_LIVEMODE", True))
    return True


def metadata(value: Any) -> dict:
    """Stripe's metadata: always an object of strings."""
    if not isinstance(value, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def decimal_string(value: int | Decimal | None) -> str | None:
    """Stripe's ``*_decimal`` fields: a decimal number as a string ("2900", "12.5")."""
    if value is None:
        return None
    text = format(Decimal(value).normalize(), "f")
    return text


def address(line1=None, line2=None, city=None, state=None, postal_code=None, country=None
            ) -> dict | None:
    """Stripe's address object, or None when every part is empty."""
    parts = {"city": city, "country": country, "line1": line1, "line2": line2,
             "postal_code": postal_code, "state": state}
    return parts if any(parts.values()) else None


def list_object(data: list[dict], url: str, *, has_more: bool = False,
                total_count: int | None = None) -> dict:
    """Stripe's list object around already serialized rows."""
    result = {"object": "list", "data": data, "has_more": has_more, "url": url}
    if total_count is not None:
        result["total_count"] = total_count
    return result


def list_url(path: str, **params) -> str:
    """A list's ``url`` as Stripe writes it: the API path, with the filter that made it."""
    return f"{path}?{urlencode(params)}" if params else path


def public_url(endpoint: str, **values) -> str | None:
    """An absolute URL of one of the portal's pages, built from ``PUBLIC_URL`` (no request
    needed); None when the app has no usable PUBLIC_URL or no such page."""
    from werkzeug.routing import BuildError

    if not has_app_context():
        return None
    base = urlsplit(str(current_app.config.get("PUBLIC_URL") or ""))
    if base.scheme not in ("http", "https") or not base.netloc:
        return None
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/",
                                       url_scheme=base.scheme)
    try:
        return adapter.build(endpoint, values, force_external=True)
    except BuildError:
        return None


def load(session: Session, model, objs: Sequence[Any], *options, needs: Iterable[str]) -> None:
    """Load the relationships ``needs`` of ``objs`` (with ``options``, selectinload chains) in
    one query, for the objects that lack one; none when every object has them already (a
    parent's preload loaded them). A many-to-one whose row is already in the session counts
    as loaded: reading it costs no query."""
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy.orm import RelationshipDirection

    relationships = sa_inspect(model).relationships
    relationship_keys = set(relationships.keys())
    needs = list(needs)

    def lacks(obj) -> bool:
        state = sa_inspect(obj)
        # After a commit: one query refreshes the whole page. Only relationships expired (a
        # refresh of the row's columns) is no reason: each is checked below like an unloaded one.
        if not state.expired_attributes <= relationship_keys:
            return True
        for name in needs:
            if name not in state.unloaded:
                continue
            rel = relationships[name]
            if rel.direction is RelationshipDirection.MANYTOONE and len(rel.local_columns) == 1:
                column = next(iter(rel.local_columns))
                value = state.attrs[column.key].loaded_value  # NO_VALUE when expired
                if value is None or (isinstance(value, str)
                                     and _in_session(session, rel.mapper.class_, value)):
                    continue
            return True
        return False

    # The key from the identity map, not ``obj.id``: reading an expired row's column would
    # refresh it, one query per row.
    missing = sorted({_key(obj) for obj in objs if lacks(obj)})
    if missing:
        session.scalars(select(model).where(model.id.in_(missing)).options(*options)).all()


def _key(obj) -> str:
    from sqlalchemy import inspect as sa_inspect

    identity = sa_inspect(obj).identity
    return identity[0] if identity else obj.id


def _in_session(session: Session, model, key) -> bool:
    from sqlalchemy.orm.util import identity_key

    return identity_key(model, key) in session.identity_map


def unique(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))
