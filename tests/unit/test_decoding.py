"""The decoding boundary: hostile files get a permanent answer, unusual valid ones a thumbnail.

Each crafted file here stands for a kind found in real-world test suites and decoder fuzz
corpora (issue #12); every one of them was answered wrongly before: a retry, a refusal of a
valid image, a transparent area turned black, or a vague reason.
"""

import io

import pytest
from PIL import Image

from tests.images import (
    PAGE_COLOURS,
    avif_with_its_handler_last,
    cmyk_alpha_tiff,
    encode,
    flattened,
    mean_colour,
    photo_like,
    png_16_bit_with_colour_key,
    psnr,
    tiff_pages,
    tiff_with_a_dimensionless_page,
    tiff_with_a_tag_past_the_end,
    tiff_with_damaged_deflate_data,
    twelve_bit_jpeg,
)
from thumbnailer import errors
from thumbnailer.config import ImagingSettings
from thumbnailer.decoding import LIBVIPS_FORMATS, sniff
from thumbnailer.domain import FitMode, OutputFormat, Size
from thumbnailer.imaging import render_thumbnails

DEFAULT = ImagingSettings()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_page_without_dimensions_is_corrupt_not_a_retry() -> None:
    """Pillow raises TypeError counting the pages: the input's fault, named by type."""
    with pytest.raises(errors.CorruptImage, match="TypeError: Missing dimensions"):
        render_thumbnails(tiff_with_a_dimensionless_page(), DEFAULT)


def test_an_intact_multi_page_tiff_gives_its_first_page() -> None:
    rendering = render_thumbnails(tiff_pages(compression="tiff_deflate"), ImagingSettings(mode=FitMode.CONTAIN))
    assert (rendering.source_format, rendering.thumbnails[0].width, rendering.thumbnails[0].height) == ("TIFF", 120, 80)
    first = mean_colour(decoded(rendering.thumbnails[0].data), (10, 10, 110, 70))
    assert all(abs(a - b) < 8 for a, b in zip(first, PAGE_COLOURS[0], strict=True))


def test_a_12_bit_jpeg_says_what_it_is() -> None:
    with pytest.raises(errors.UnsupportedVariant, match="12-bit JPEG") as raised:
        render_thumbnails(twelve_bit_jpeg(), DEFAULT)
    assert raised.value.reason == "unsupported_variant"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"\xff\x0a\xfa\x7f\x01\x91\x08\x06\x01\x00\x48\x00", "JPEG XL"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"8BPS\x00\x01" + bytes(20), "Photoshop"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    ],
    ids=["jpeg xl", "pdf", "psd", "svg"],
)
def test_images_in_other_formats_are_named(data: bytes, named: str) -> None:
    with pytest.raises(errors.NotAnImage, match=named):
        render_thumbnails(data, DEFAULT)


def test_a_broken_file_of_a_supported_format_is_corrupt_not_unknown() -> None:
    """PNG's signature and then nothing readable: damage, not a file of another kind."""
    with pytest.raises(errors.CorruptImage, match="a PNG file that cannot be read"):
        render_thumbnails(b"\x89PNG\r\n\x1a\n" + bytes(40), DEFAULT)


def test_an_avif_pillow_refuses_is_read_by_libvips() -> None:
    source = photo_like(320, 240)
    data = avif_with_its_handler_last(source)
    with pytest.raises(Exception, match="cannot identify"):
        Image.open(io.BytesIO(data))  # libavif's strict box parsing: the reason for the fallback
    rendering = render_thumbnails(data, ImagingSettings(mode=FitMode.CONTAIN))
    assert rendering.source_format == "AVIF"
    assert (rendering.thumbnails[0].width, rendering.thumbnails[0].height) == (200, 150)
    assert psnr(decoded(rendering.thumbnails[0].data), source.resize((200, 150), Image.Resampling.LANCZOS)) > 28


def test_avif_through_libvips_and_through_pillow_agree() -> None:
    """The fallback decoder makes the thumbnail Pillow makes: orientation (the container's
    rotation) and transparency included."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Pillow's encoder turns it into the container's rotation
    rgba = photo_like(480, 320).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((480, 320)))
    data = encode(rgba.transpose(Image.Transpose.ROTATE_90), "AVIF", quality=90, exif=exif)
    settings = ImagingSettings(sizes=(Size(200, 200), Size(120, 60)), mode=FitMode.CONTAIN, format=OutputFormat.PNG)
    pillow = render_thumbnails(data, settings)
    libvips = render_thumbnails(data, settings, libvips_formats=LIBVIPS_FORMATS | {"AVIF"})
    for ours, theirs in zip(libvips.thumbnails, pillow.thumbnails, strict=True):
        assert (ours.width, ours.height) == (theirs.width, theirs.height)
        assert decoded(ours.data).mode == decoded(theirs.data).mode == "RGBA"
        assert psnr(flattened(ours.data), flattened(theirs.data)) >= 38
    assert (pillow.thumbnails[0].width, pillow.thumbnails[0].height) == (200, 133)  # upright: landscape


def test_cmyk_with_alpha_is_read_by_libvips() -> None:
    """Pillow has no mode for five samples; libvips converts them to sRGB with alpha."""
    thumbnail = render_thumbnails(cmyk_alpha_tiff(), ImagingSettings(mode=FitMode.CONTAIN)).thumbnails[0]
    assert thumbnail.format == "webp"  # transparent, so auto keeps the alpha
    image = decoded(thumbnail.data).convert("RGBA")
    assert image.getpixel((5, 40))[3] == 255  # type: ignore[index]
    assert image.getpixel((image.width - 5, 40))[3] == 0  # type: ignore[index]


# (Pillow alone reads 16-bit RGB as its high bytes, where one step away is the same colour:
# the bench's Pillow-only path cannot tell those two halves apart, so it is not among these.)
@pytest.mark.parametrize(("mode", "decoders"), [("L", "deployed"), ("RGB", "deployed"), ("L", "pillow-only")])
def test_a_16_bit_colour_key_keeps_its_transparency(mode: str, decoders: str) -> None:
    """The left half is the tRNS colour key; the right half is one 16-bit step away from it."""
    libvips_formats = LIBVIPS_FORMATS if decoders == "deployed" else frozenset()
    settings = ImagingSettings(mode=FitMode.CONTAIN)
    thumbnail = render_thumbnails(png_16_bit_with_colour_key(mode), settings, libvips_formats=libvips_formats)
    image = decoded(thumbnail.thumbnails[0].data).convert("RGBA")
    assert thumbnail.thumbnails[0].format == "webp"
    assert image.getpixel((10, 40))[3] == 0  # type: ignore[index]
    assert image.getpixel((image.width - 10, 40))[3] == 255  # type: ignore[index]


def test_what_the_decoders_say_comes_back_with_the_thumbnail() -> None:
    rendering = render_thumbnails(tiff_with_a_tag_past_the_end(), DEFAULT)
    assert rendering.thumbnails
    assert rendering.warnings
    assert all(len(message) <= 200 for message in rendering.warnings)


def test_libtiff_errors_come_back_with_the_failure(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(errors.CorruptImage) as raised:
        render_thumbnails(tiff_with_damaged_deflate_data(), DEFAULT)
    assert any(message.startswith("libtiff: ZIPDecode") for message in raised.value.warnings)
    assert capfd.readouterr() == ("", "")  # nothing reached the process's own stdout or stderr


def test_a_broken_icc_profile_is_ignored_and_said() -> None:
    data = encode(photo_like(300, 200), "JPEG", icc_profile=b"not an ICC profile at all, but long enough" * 4)
    rendering = render_thumbnails(data, DEFAULT)
    assert rendering.thumbnails
    assert any("ICC profile" in message for message in rendering.warnings)


@pytest.mark.parametrize(
    ("data", "claimed"),
    [
        (b"\xff\xd8\xff\xe0", "JPEG"),
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"GIF89a", "GIF"),
        (b"II*\0", "TIFF"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "WEBP"),
        (b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf", "AVIF"),
        (b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf", "AVIF"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "HEIF"),
        (b"hello", None),
    ],
)
def test_formats_are_told_by_their_first_bytes(data: bytes, claimed: str | None) -> None:
    assert sniff(data) == claimed
