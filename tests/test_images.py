"""Uploaded images (portal/images.py) are judged by their content, never by their name: JPEG,
PNG and WEBP under 2 MB are re-encoded without metadata and resized; anything else is refused
with a message the uploader understands. Every image here is a real file made with Pillow."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from portal.images import (
    MAX_BYTES,
    ImageRefused,
    is_stored_name,
    process_image,
    read_upload,
    store_image,
)
from tests.image_files import (
    GPS_IFD,
    PHP,
    SVG,
    TEXT,
    image_bytes,
    jpeg_with_gps,
    noisy_png,
    padded,
    png_claiming,
    png_with_text,
)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_jpeg_png_and_webp_are_accepted_and_stay_in_their_format(fmt):
    result = process_image(image_bytes(fmt, (120, 90)), max_side=640)
    assert result.format == fmt
    assert (result.width, result.height) == (120, 90)
    assert opened(result.data).format == fmt
    assert result.content_type == f"image/{fmt.lower()}"


@pytest.mark.parametrize(("what", "data"), [
    ("a GIF", image_bytes("GIF")),
    ("a BMP", image_bytes("BMP")),
    ("a TIFF", image_bytes("TIFF")),
    ("an SVG", SVG),
    ("a text file", TEXT),
    ("a PHP script", PHP),
])
def test_anything_but_jpeg_png_and_webp_is_refused_by_its_content(what, data):
    with pytest.raises(ImageRefused, match="^The image must be a JPEG, PNG or WEBP file$"):
        process_image(data, max_side=640)


def test_a_php_script_named_like_a_png_is_still_refused(tmp_path):
    # The name travels no further than the upload: only the bytes are read.
    upload = tmp_path / "avatar.png"
    upload.write_bytes(PHP)
    with upload.open("rb") as stream:
        data = read_upload(stream)
    with pytest.raises(ImageRefused, match="JPEG, PNG or WEBP"):
        process_image(data, max_side=640)


@pytest.mark.parametrize("size", [MAX_BYTES, MAX_BYTES + 1, 3 * MAX_BYTES])
def test_files_of_2_mb_and_over_are_refused_before_they_are_decoded(size):
    data = padded(image_bytes("PNG"), size)
    with pytest.raises(ImageRefused, match="^The image must be smaller than 2 MB$"):
        read_upload(io.BytesIO(data))
    with pytest.raises(ImageRefused, match="smaller than 2 MB"):
        process_image(data, max_side=640)


def test_read_upload_stops_reading_just_past_the_limit():
    stream = io.BytesIO(b"\x00" * (5 * MAX_BYTES))
    with pytest.raises(ImageRefused):
        read_upload(stream)
    assert stream.tell() == MAX_BYTES + 1


def test_a_real_photo_of_over_2_mb_is_refused():
    photo = noisy_png((900, 900))
    assert len(photo) >= MAX_BYTES
    with pytest.raises(ImageRefused, match="smaller than 2 MB"):
        read_upload(io.BytesIO(photo))


def test_an_image_just_under_2_mb_is_accepted():
    data = padded(image_bytes("PNG", (50, 50)), MAX_BYTES - 1)
    assert process_image(read_upload(io.BytesIO(data)), max_side=640).format == "PNG"


def test_an_empty_file_is_refused():
    with pytest.raises(ImageRefused, match="^The selected image file is empty$"):
        read_upload(io.BytesIO(b""))


def test_exif_with_the_camera_and_gps_position_is_gone_after_re_encoding():
    original = jpeg_with_gps()
    assert opened(original).getexif().get_ifd(GPS_IFD)  # the upload really has a position
    result = opened(process_image(original, max_side=640).data)
    exif = result.getexif()
    assert not exif.get_ifd(GPS_IFD)
    assert dict(exif) == {}
    assert "exif" not in result.info


def test_png_text_chunks_are_gone_after_re_encoding():
    original = opened(png_with_text())
    assert original.info["Author"] == "Jenny Rosen"
    result = opened(process_image(png_with_text(), max_side=640).data)
    assert "Author" not in result.info and "Comment" not in result.info


def test_a_sideways_phone_photo_is_turned_upright():
    # Orientation 6: the camera was turned; the pixels are stored 80 wide and 60 high.
    result = process_image(jpeg_with_gps((80, 60), orientation=6), max_side=640)
    assert (result.width, result.height) == (60, 80)


@pytest.mark.parametrize(("size", "expected"), [
    ((3000, 2000), (640, 427)),
    ((1000, 4000), (160, 640)),
    ((640, 640), (640, 640)),
])
def test_a_large_image_is_resized_to_fit_keeping_its_shape(size, expected):
    result = process_image(image_bytes("JPEG", size), max_side=640)
    assert (result.width, result.height) == expected
    assert opened(result.data).size == expected


def test_a_small_image_is_not_enlarged():
    result = process_image(image_bytes("PNG", (30, 20)), max_side=640)
    assert (result.width, result.height) == (30, 20)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_truncated_file_is_refused(fmt):
    whole = image_bytes(fmt, (300, 200)) if fmt == "JPEG" else noisy_png((120, 120))
    with pytest.raises(ImageRefused, match="damaged or incomplete"):
        process_image(whole[: len(whole) // 3], max_side=640)


@pytest.mark.parametrize(("width", "height"), [(8000, 6000), (50_000, 50_000)])
def test_a_decompression_bomb_is_refused_without_decoding_it(width, height):
    bomb = png_claiming(width, height)
    assert len(bomb) < 1000
    with pytest.raises(ImageRefused, match="too large: use one under 40 megapixels"):
        process_image(bomb, max_side=640)


def test_an_icon_must_be_square():
    with pytest.raises(ImageRefused, match="must be square: this one is 300 × 200 pixels"):
        process_image(image_bytes("PNG", (300, 200)), max_side=512, square=True, noun="icon")


def test_a_nearly_square_icon_is_accepted():
    result = process_image(image_bytes("PNG", (300, 296)), max_side=512, square=True)
    assert result.format == "PNG"


def test_the_message_names_what_was_uploaded():
    with pytest.raises(ImageRefused, match="^The logo must be a JPEG, PNG or WEBP file$"):
        process_image(TEXT, max_side=512, noun="logo")


def test_stored_images_get_fresh_names_that_is_stored_name_accepts(tmp_path):
    image = process_image(image_bytes("WEBP"), max_side=640)
    first = store_image(str(tmp_path), image, prefix="product")
    second = store_image(str(tmp_path), image, prefix="product")
    assert first != second and first.endswith(".webp")
    assert is_stored_name(first)
    assert (tmp_path / "uploads" / first).read_bytes() == image.data


@pytest.mark.parametrize("name", [
    None, "", ".hidden.png", "../secret.png", "a/b.png", "product.gif", "PRODUCT.PNG",
    "product.png.php", "product-%2e%2e.png",
])
def test_is_stored_name_refuses_what_store_image_never_makes(name):
    assert not is_stored_name(name)
