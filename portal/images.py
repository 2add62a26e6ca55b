"""Uploaded images (product images, the branding icon and logo): checked by their content,
re-encoded without metadata, resized, and stored under a fresh name in instance/uploads.

A file's name and its declared type are the uploader's word; Pillow reading the bytes is ours.
Re-encoding drops EXIF (camera, GPS position), ICC and XMP data and anything appended to the
file, so what is served is only pixels we decoded.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 2 * 1024 * 1024  # "smaller than 2 MB", as the hosted dashboards say
# Beyond this many pixels decoding alone costs too much memory: a small file can claim a huge
# canvas (a decompression bomb). 40 megapixels is larger than any phone photo.
MAX_PIXELS = 40_000_000
FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"),
           "WEBP": ("webp", "image/webp")}
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


class ImageRefused(ValueError):
    """The upload cannot be used; the message says why, in words for the person uploading."""


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    format: str  # JPEG, PNG or WEBP
    width: int
    height: int

    @property
    def extension(self) -> str:
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][1]


def read_upload(stream, *, noun: str = "image") -> bytes:
    """The uploaded bytes, refusing an empty file or one of 2 MB or more without reading on."""
    data = stream.read(MAX_BYTES + 1) if hasattr(stream, "read") else bytes(stream or b"")
    if not data:
        raise ImageRefused(f"The selected {noun} file is empty")
    if len(data) >= MAX_BYTES:
        raise ImageRefused(f"The {noun} must be smaller than 2 MB")
    return data


def process_image(data: bytes, *, max_side: int, square: bool = False,
                  noun: str = "image") -> ProcessedImage:
    """Decode ``data`` as JPEG, PNG or WEBP, and return it re-encoded in the same format, turned
    upright, at most ``max_side`` pixels on its longer side, with no metadata."""
    if len(data) >= MAX_BYTES:
        raise ImageRefused(f"The {noun} must be smaller than 2 MB")
    refused_type = ImageRefused(f"The {noun} must be a JPEG, PNG or WEBP file")
    try:
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as probe:
            probe.verify()  # structure and checksums, before any pixel is decoded
        image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        source_format = image.format
        if image.width * image.height > MAX_PIXELS:
            raise ImageRefused(f"The {noun} is too large: use one under 40 megapixels")
        image.load()
    except ImageRefused:
        raise
    except UnidentifiedImageError:
        raise refused_type from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(f"The {noun} is too large: use one under 40 megapixels") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageRefused(f"The {noun} file is damaged or incomplete: save it again and "
                           "upload the new copy") from None
    if source_format not in FORMATS:
        raise refused_type
    image = ImageOps.exif_transpose(image)  # a phone photo held sideways stays upright
    if square and abs(image.width - image.height) > max(1, round(0.02 * max(image.size))):
        raise ImageRefused(f"The {noun} must be square: this one is {image.width} × "
                           f"{image.height} pixels")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return ProcessedImage(data=_encode(image, source_format), format=source_format,
                          width=image.width, height=image.height)


def _encode(image: Image.Image, fmt: str) -> bytes:
    if fmt == "JPEG":
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    # A fresh image holds pixels only: no EXIF, ICC, XMP or text chunks reach the encoder.
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    out = io.BytesIO()
    if fmt == "JPEG":
        clean.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    elif fmt == "PNG":
        clean.save(out, "PNG", optimize=True)
    else:
        clean.save(out, "WEBP", quality=85, method=4)
    return out.getvalue()


def uploads_dir(instance_path: str) -> Path:
    path = Path(instance_path) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_image(instance_path: str, image: ProcessedImage, *, prefix: str) -> str:
    """Write the image under a new random name (a changed image gets a new URL, so caches never
    show the old one) and return that name."""
    name = f"{prefix}-{secrets.token_hex(8)}.{image.extension}"
    (uploads_dir(instance_path) / name).write_bytes(image.data)
    return name


def is_stored_name(name: str | None) -> bool:
    """True for a name store_image could have made: no path, no dot files, nothing else."""
    return bool(name) and not name.startswith(".") and set(name) <= _NAME_CHARS \
        and name.rsplit(".", 1)[-1] in {ext for ext, _ in FORMATS.values()}
