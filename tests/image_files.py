"""Real image files made with Pillow for the upload tests, and files that only pretend to be
images. Nothing here is a fixture: each test makes what it needs."""

from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import Image, PngImagePlugin

GPS_IFD = 0x8825
ORIENTATION = 0x0112
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(1)</script><rect width="10" height="10"/></svg>')
PHP = b"<?php echo shell_exec($_GET['cmd']); ?>\n"
TEXT = b"This is not an image, whatever its name says.\n"


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), color=(200, 40, 40),
                mode: str = "RGB", **save) -> bytes:
    """A solid image of ``size`` in ``fmt`` (PNG, JPEG, WEBP, GIF, BMP...)."""
    image = Image.new(mode, size, color)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def noisy_png(size: tuple[int, int]) -> bytes:
    """Random pixels compress badly: a PNG this size is about width × height × 3 bytes."""
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (80, 60), orientation: int | None = None) -> bytes:
    """A phone photo's kind of JPEG: EXIF with the camera, a GPS position (Brandenburg Gate)
    and, if given, an orientation."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone 15"  # Model
    if orientation:
        exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({
        1: "N", 2: (52.0, 30.0, 58.0), 3: "E", 4: (13.0, 22.0, 39.0),
    })
    return image_bytes("JPEG", size, exif=exif.tobytes())


def png_with_text(size: tuple[int, int] = (40, 40)) -> bytes:
    """A PNG carrying text chunks (an author, a comment), which must not survive."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jenny Rosen")
    info.add_text("Comment", "home address: 27 Fredrick Ave")
    return image_bytes("PNG", size, pnginfo=info)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_claiming(width: int, height: int) -> bytes:
    """A valid-looking PNG of a few hundred bytes whose header claims ``width`` × ``height``
    pixels: decoding it would need gigabytes (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024, 9)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels)
            + _chunk(b"IEND", b""))


def padded(data: bytes, total: int) -> bytes:
    """``data`` followed by bytes up to ``total`` (trailing data, as an editor may leave)."""
    return data + b"\x00" * (total - len(data))
