"""Signed webhooks in Stripe's shape.

An operation raises an event (``portal.events.raise_event``); for the types merchants can
subscribe to, ``recording`` writes the Stripe event (the object as it is at commit) and one
outbox row per endpoint that wants it, in the change's own transaction. The worker delivers
each row (``delivery``), signed as Stripe signs (``signing``), retrying for three days and
logging every attempt. Endpoints are written through ``operations``.
"""
