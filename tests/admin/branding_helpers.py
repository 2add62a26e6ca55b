"""Shared by the Branding page's tests: a valid form, real images made by Pillow, uploads."""

from __future__ import annotations

import io
import random

from PIL import Image

VALID = {"business_name": "Globex", "brand_color": "#aa3300", "accent_color": "#0b6e4f",
         "support_email": "help@globex.example", "support_phone": "+44 20 7946 0000",
         "font": "transitional"}


def form(**changes) -> dict:
    """The branding form as a browser posts it, with ``changes``."""
    return {**VALID, **changes}


def image_bytes(size=(64, 64), fmt="PNG", colour=(170, 51, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def noise_png(side: int) -> bytes:
    """A PNG of random pixels (seeded, the same on every run): it does not compress, so its
    size is about side * side * 3 bytes."""
    pixels = random.Random(side).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, "PNG")
    return out.getvalue()


def upload(client, kind: str, data: bytes, filename: str = "image.png", **headers):
    """Post ``data`` as the icon or logo file, as the page's upload form does."""
    return client.post(f"/admin/branding/{kind}", headers=headers,
                       data={f"{kind}-image": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")
