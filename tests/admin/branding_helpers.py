"""Shared by the Branding page's tests: a valid form, real images made by Pillow, uploads."""

from __future__ import annotations

import io

VALID = {"business_name": "Globex", "brand_color": "#aa3300", "accent_color": "#0b6e4f",
         "support_email": "help@globex.example", "support_phone": "+44 20 7946 0000",
         "font": "transitional"}


def form(**changes) -> dict:
    """The branding form as a browser posts it, with ``changes``."""
    return {**VALID, **changes}






def upload(client, kind: str, data: bytes, filename: str = "image.png", **headers):
    """Post ``data`` as the icon or logo file, as the page's upload form does."""
    return client.post(f"/admin/branding/{kind}", headers=headers,
                       data={f"{kind}-image": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")
