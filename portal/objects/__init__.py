"""Stripe-shaped JSON for the portal's models, shared by the /v1 API and the webhooks.

- ``serialize(session, obj) -> dict``: one model instance as its Stripe object.
- ``serialize_many(session, objs) -> list[dict]``: a page of a list (up to 100 rows) in a fixed
  number of queries; use it for every list, never ``serialize`` in a loop.
- ``serialize_by_id(session, object_type, object_id) -> dict | None``: by Stripe's ``object``
  name ("customer", "product", "price", "subscription", "subscription_item", "invoice",
  "line_item", "payment_method", "billing_portal.configuration", ...); None when missing.
- ``list_object(data, url)``: Stripe's ``{"object": "list", ...}`` around serialized rows.

The output is Stripe's JSON for the API version stripe-python pins (``stripe.api_version``),
plus the older top-level fields Stripe moved in 2025 (``subscription.current_period_*``,
``invoice.subscription``, a line's ``price``...): a superset is harmless to clients.
Timestamps are Unix ints, money integers in minor units, ``metadata`` always a dict, and what
the portal has no data for gets Stripe's null or empty default. ``livemode`` is the app's
``API_LIVEMODE`` setting (true unless configured otherwise). Serializers need an app context,
never a request: the webhook recorder and the worker run them. URLs are built from
``PUBLIC_URL``. Each object's JSON Schema is in ``portal.objects.schemas``.

Adding an object: a module here (one per object) with

    from portal.objects import serializer

    def _preload(session, objs):          # optional: batch-load what the objects need
        return {...}

    @serializer(MyModel, "my_object", preload=_preload)
    def serialize_my_object(session, obj, ctx) -> dict:
        return {"id": obj.id, "object": "my_object", ...}

Every module in this package not starting with "_" is imported here, so dropping the file in
registers it; add its schema to ``schemas.SCHEMAS`` and a test in tests/objects/.
"""

from __future__ import annotations

import importlib
import pkgutil

from portal.objects.common import list_object
from portal.objects.registry import (
    object_names,
    serialize,
    serialize_by_id,
    serialize_many,
    serializer,
)

__all__ = ["list_object", "object_names", "serialize", "serialize_by_id", "serialize_many",
           "serializer"]

_NOT_SERIALIZERS = {"common", "registry", "schemas"}

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if not _module.startswith("_") and _module not in _NOT_SERIALIZERS:
        importlib.import_module(f"{__name__}.{_module}")
