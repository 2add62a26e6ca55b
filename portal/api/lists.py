"""Stripe's list objects: newest first, pages of ``limit``, cursors by object id."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Select, and_, or_

from portal.api.errors import ApiError, not_found
from portal.api.routing import ApiCall

DEFAULT_LIMIT = 10


def paginate(call: ApiCall, query: Select, model, *, url: str, object_name: str,
             serialize_many: Callable[[Sequence], list[dict]], created=None) -> dict:
    """One page of ``query`` (already filtered) as ``{"object": "list", ...}``.

    Ordered by ``created`` (the model's ``created`` column unless given) then id, both
    descending, as Stripe orders lists; ``starting_after``/``ending_before`` name the object
    the page starts after or ends before, which must be one the same filters can return."""
    limit = call.get("limit") or DEFAULT_LIMIT
    after, before = call.get("starting_after"), call.get("ending_before")
    if after and before:
        raise ApiError(400, "You may only specify one of these parameters: starting_after, "
                       "ending_before.", code="parameter_invalid")
    created = created if created is not None else model.created
    session = call.session
    if after or before:
        cursor_id = after or before
        param = "starting_after" if after else "ending_before"
        cursor = session.execute(query.where(model.id == cursor_id).with_only_columns(
            created, model.id)).first()
        if cursor is None:
            raise not_found(object_name, cursor_id, param)
        if after:
            query = query.where(or_(created < cursor[0],
                                    and_(created == cursor[0], model.id < cursor[1])))
        else:
            query = query.where(or_(created > cursor[0],
                                    and_(created == cursor[0], model.id > cursor[1])))
    if before:
        rows = list(session.scalars(query.order_by(created.asc(), model.id.asc())
                                    .limit(limit + 1)))
        has_more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    else:
        rows = list(session.scalars(query.order_by(created.desc(), model.id.desc())
                                    .limit(limit + 1)))
        has_more = len(rows) > limit
        rows = rows[:limit]
    return {"object": "list", "data": serialize_many(rows), "has_more": has_more, "url": url}
