"""PNG and WebP decoded by libvips (shrinking as it decodes) make the thumbnail Pillow makes.

Every source here is large enough to be shrunk on decode; each is rendered twice, once
as deployed and once with Pillow decoding everything, and the two must agree.
"""

import io
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw

from tests.images import (
    encode,
    flattened,
    mean_colour,
    modules_after_rendering,
    photo_like,
    psnr,
    swapped_primaries_profile,
)
from thumbnailer import errors
from thumbnailer.config import ImagingSettings
from thumbnailer.decoding import LIBVIPS_FORMATS
from thumbnailer.domain import FitMode, OutputFormat, Size
from thumbnailer.imaging import render_thumbnails

PILLOW_ONLY: frozenset[str] = frozenset()


def _with_soft_alpha(image: Image.Image) -> Image.Image:
    alpha = Image.new("L", image.size, 0)
    ImageDraw.Draw(alpha).ellipse((50, 40, image.width - 50, image.height - 40), fill=255)
    rgba = image.convert("RGBA")
    rgba.putalpha(alpha)
    return rgba


def _palette_with_transparency() -> bytes:
    image = photo_like(1200, 900).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    return encode(image, "PNG", transparency=0)


def _orientation_6_webp() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(photo_like(900, 1200).transpose(Image.Transpose.ROTATE_90), "WEBP", quality=95, exif=exif)


SOURCES: dict[str, Callable[[], bytes]] = {
    "png rgb": lambda: encode(photo_like(1200, 900), "PNG"),
    "png rgba": lambda: encode(_with_soft_alpha(photo_like(1200, 900)), "PNG"),
    "png grey": lambda: encode(photo_like(1200, 900).convert("L"), "PNG"),
    "png grey+alpha": lambda: encode(_with_soft_alpha(photo_like(1200, 900)).convert("LA"), "PNG"),
    "png 16-bit": lambda: encode(photo_like(1200, 900).convert("L").point(lambda v: v * 257).convert("I;16"), "PNG"),
    "png palette+transparency": _palette_with_transparency,
    "webp rgb": lambda: encode(photo_like(1200, 900), "WEBP", quality=95),
    "webp rgba": lambda: encode(_with_soft_alpha(photo_like(1200, 900)), "WEBP", quality=95),
    "webp orientation 6": _orientation_6_webp,
}


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("output", [OutputFormat.PNG, OutputFormat.JPEG])
def test_libvips_and_pillow_decoding_agree(source: str, output: OutputFormat) -> None:
    data = SOURCES[source]()
    settings = ImagingSettings(sizes=(Size(200, 200), Size(300, 120)), format=output)
    deployed = render_thumbnails(data, settings)
    pillow = render_thumbnails(data, settings, libvips_formats=PILLOW_ONLY)
    assert deployed.source_format in LIBVIPS_FORMATS
    for ours, theirs in zip(deployed.thumbnails, pillow.thumbnails, strict=True):
        assert (ours.width, ours.height, ours.format) == (theirs.width, theirs.height, theirs.format)
        assert Image.open(io.BytesIO(ours.data)).mode == Image.open(io.BytesIO(theirs.data)).mode
        assert psnr(flattened(ours.data), flattened(theirs.data)) >= 38


def test_embedded_icc_profile_is_converted_through_libvips_too() -> None:
    tagged_red = encode(Image.new("RGB", (1200, 1200), (255, 0, 0)), "PNG", icc_profile=swapped_primaries_profile())
    thumbnail = render_thumbnails(tagged_red, ImagingSettings()).thumbnails[0]
    blue = mean_colour(Image.open(io.BytesIO(thumbnail.data)), (50, 50, 150, 150))
    assert all(abs(a - b) <= 20 for a, b in zip(blue, (0, 0, 255), strict=True))


@pytest.mark.parametrize("image_format", ["PNG", "WEBP"])
def test_truncated_large_image_is_corrupt_not_half_grey(image_format: str) -> None:
    data = encode(photo_like(1200, 900), image_format)
    with pytest.raises(errors.CorruptImage):
        render_thumbnails(data[: len(data) * 2 // 3], ImagingSettings(mode=FitMode.CONTAIN))


def test_a_jpeg_never_loads_libvips() -> None:
    # Cold start: libvips is imported when a PNG or WebP arrives, not before.
    assert "pyvips" not in modules_after_rendering("JPEG")
    assert "pyvips" in modules_after_rendering("JPEG", "PNG")
