"""Stripe's ``billing_portal.configuration`` from
portal.portal_settings.models.PortalConfiguration."""

from __future__ import annotations

from flask import current_app, has_app_context
from sqlalchemy import select

from portal.objects.common import livemode, metadata, ts
from portal.objects.registry import serializer
from portal.portal_settings.models import LoginLink, PortalConfiguration


def _preload(session, configurations) -> dict:
    """The active login link of each configuration that has its login page on (one query)."""
    ids = [c.id for c in configurations if c.login_page_enabled]
    links: dict[str, str] = {}
    if ids:
        for link in session.scalars(
                select(LoginLink).where(LoginLink.active.is_(True),
                                        LoginLink.configuration_id.in_(ids))
                .order_by(LoginLink.created)):
            links[link.configuration_id] = link.id
    return {"login_links": links}


def _login_url(link_id: str | None) -> str | None:
    from portal.portal_settings.operations import login_url

    if not link_id or not has_app_context() or not current_app.config.get("PUBLIC_URL"):
        return None
    return login_url(link_id, base=current_app.config["PUBLIC_URL"])


def _products(config: PortalConfiguration) -> list[dict]:
    products = []
    for entry in config.subscription_update_products or []:
        adjustable = entry.get("adjustable_quantity") or {}
        products.append({
            "adjustable_quantity": {
                "enabled": bool(adjustable.get("enabled", False)),
                "maximum": adjustable.get("maximum"),
                "minimum": adjustable.get("minimum", 1),
            },
            "prices": list(entry.get("prices") or []),
            "product": entry.get("product"),
        })
    return products


@serializer(PortalConfiguration, "billing_portal.configuration", preload=_preload)
def serialize_portal_configuration(session, config: PortalConfiguration, ctx) -> dict:
    login_url = _login_url(ctx["login_links"].get(config.id)) if config.login_page_enabled else None
    return {
        "id": config.id,
        "object": "billing_portal.configuration",
        "active": bool(config.active),
        "application": None,
        "business_profile": {
            "headline": config.headline,
            "privacy_policy_url": config.privacy_policy_url,
            "terms_of_service_url": config.terms_of_service_url,
        },
        "created": ts(config.created),
        "default_return_url": config.default_return_url,
        "features": {
            "customer_update": {
                "allowed_updates": list(config.customer_update_allowed or []),
                "enabled": bool(config.customer_update_enabled),
            },
            "invoice_history": {"enabled": bool(config.invoice_history_enabled)},
            "payment_method_update": {"enabled": bool(config.payment_method_update_enabled),
                                      "payment_method_configuration": None},
            "subscription_cancel": {
                "cancellation_reason": {
                    "enabled": bool(config.cancellation_reason_enabled),
                    "options": list(config.cancellation_reason_options or []),
                },
                "enabled": bool(config.subscription_cancel_enabled),
                "mode": config.subscription_cancel_mode or "at_period_end",
                "proration_behavior": config.subscription_cancel_proration_behavior or "none",
            },
            # The portal offers a pause only as a way to keep a customer who cancels, not
            # Stripe's pause feature.
            "subscription_pause": {"enabled": False},
            "subscription_update": {
                "billing_cycle_anchor": None,
                "default_allowed_updates": list(
                    config.subscription_update_default_allowed_updates or []),
                "enabled": bool(config.subscription_update_enabled),
                "products": _products(config),
                "proration_behavior": config.subscription_update_proration_behavior or "none",
                "schedule_at_period_end": {
                    "conditions": [{"type": c}
                                   for c in config.schedule_at_period_end_conditions or []],
                },
                "trial_update_behavior": config.trial_update_behavior or "end_trial",
            },
        },
        "is_default": bool(config.is_default),
        "livemode": livemode(),
        "login_page": {"enabled": bool(config.login_page_enabled), "url": login_url},
        "metadata": metadata(config.metadata_),
        "name": None,
        "updated": ts(config.updated or config.created),
    }
