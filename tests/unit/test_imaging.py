"""The imaging core on small generated images: modes, orientation, geometry, formats, limits."""

import io
from collections.abc import Callable

import pytest
from PIL import Image, ImageCms, ImageDraw

from tests.images import (
    QUADRANT_COLOURS,
    encode,
    jpeg_claiming,
    mean_colour,
    photo_like,
    png_bomb,
    psnr,
    quadrants,
    swapped_primaries_profile,
    with_corrupt_exif,
    with_orientation,
)
from thumbnailer import errors, parsers
from thumbnailer.config import ImagingSettings
from thumbnailer.domain import Animation, FitMode, OutputFormat, Size
from thumbnailer.imaging import Thumbnail, render_thumbnails

DEFAULT = ImagingSettings()


def render_one(data: bytes, **settings: object) -> tuple[Thumbnail, Image.Image]:
    thumbnail = render_thumbnails(data, ImagingSettings(**settings)).thumbnails[0]  # type: ignore[arg-type]
    image = Image.open(io.BytesIO(thumbnail.data))
    image.load()
    return thumbnail, image


def close(colour: tuple[float, ...], expected: tuple[int, ...], tolerance: float = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=False))


def _transparent_palette() -> bytes:
    image = Image.new("P", (400, 300), 0)
    image.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    ImageDraw.Draw(image).rectangle((0, 0, 199, 299), fill=1)  # left half: index 1, transparent
    return encode(image, "PNG", transparency=1)


def _rgba() -> bytes:
    image = Image.new("RGBA", (400, 300), (255, 0, 0, 255))
    ImageDraw.Draw(image).rectangle((0, 0, 199, 299), fill=(0, 0, 0, 0))
    return encode(image, "PNG")


def _la() -> bytes:
    image = Image.new("LA", (400, 300), (200, 255))
    ImageDraw.Draw(image).rectangle((0, 0, 199, 299), fill=(0, 0))
    return encode(image, "PNG")


MODES: dict[str, tuple[Callable[[], bytes], tuple[int, int, int]]] = {
    # name: (source bytes, expected colour at the centre of the right half)
    "1": (lambda: encode(Image.new("1", (400, 300), 1), "PNG"), (255, 255, 255)),
    "L": (lambda: encode(Image.new("L", (400, 300), 100), "PNG"), (100, 100, 100)),
    "P": (lambda: encode(Image.new("RGB", (400, 300), (0, 0, 255)).convert("P"), "GIF"), (0, 0, 255)),
    "RGB": (lambda: encode(Image.new("RGB", (400, 300), (10, 200, 30)), "JPEG", quality=95), (10, 200, 30)),
    "CMYK jpeg": (lambda: encode(Image.new("CMYK", (400, 300), (0, 255, 255, 0)), "JPEG", quality=95), (255, 0, 0)),
    "CMYK tiff": (lambda: encode(Image.new("CMYK", (400, 300), (255, 0, 255, 0)), "TIFF"), (0, 255, 0)),
    "I;16 png": (lambda: encode(Image.new("I;16", (400, 300), 40000), "PNG"), (156, 156, 156)),
    "I;16B tiff": (lambda: encode(Image.new("I;16B", (400, 300), 20000), "TIFF"), (78, 78, 78)),
    "I 32-bit tiff": (lambda: encode(Image.new("I", (400, 300), 65535), "TIFF"), (255, 255, 255)),
    "RGBA": (_rgba, (255, 0, 0)),
    "LA": (_la, (200, 200, 200)),
    "P with transparency": (_transparent_palette, (255, 0, 0)),
    "BMP": (lambda: encode(Image.new("RGB", (400, 300), (9, 99, 199)), "BMP"), (9, 99, 199)),
    "WebP": (lambda: encode(Image.new("RGB", (400, 300), (9, 99, 199)), "WEBP", quality=95), (9, 99, 199)),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_becomes_a_correct_thumbnail(mode: str) -> None:
    source, expected = MODES[mode]
    thumbnail, image = render_one(source(), mode=FitMode.CONTAIN)
    assert image.size == (200, 150)
    assert (thumbnail.width, thumbnail.height) == image.size
    assert close(mean_colour(image, (150, 60, 190, 90)), expected), mean_colour(image, (150, 60, 190, 90))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P with transparency"])
def test_transparency_is_kept_by_auto(mode: str) -> None:
    thumbnail, image = render_one(MODES[mode][0](), mode=FitMode.CONTAIN)
    assert thumbnail.format == "webp"
    assert image.format == "WEBP"
    assert image.mode == "RGBA"
    assert image.getpixel((20, 75))[3] == 0  # type: ignore[index]
    assert image.getpixel((180, 75))[3] == 255  # type: ignore[index]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P with transparency"])
@pytest.mark.parametrize("output", [OutputFormat.JPEG, OutputFormat.AUTO])
def test_transparent_areas_never_come_out_black(mode: str, output: OutputFormat) -> None:
    _, image = render_one(MODES[mode][0](), mode=FitMode.CONTAIN, format=output)
    flat = image.convert("RGBA")
    if image.mode == "RGBA":
        flat = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image)
    assert close(mean_colour(flat, (10, 60, 50, 90)), (255, 255, 255), tolerance=3)


def test_opaque_alpha_is_dropped_and_auto_picks_jpeg() -> None:
    thumbnail, image = render_one(encode(Image.new("RGBA", (300, 300), (1, 2, 3, 255)), "PNG"))
    assert (thumbnail.format, thumbnail.content_type, image.format, image.mode) == (
        "jpeg",
        "image/jpeg",
        "JPEG",
        "RGB",
    )


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    upright = quadrants(600, 400)
    _, image = render_one(with_orientation(upright, orientation), mode=FitMode.CONTAIN, sizes=(Size(150, 150),))
    assert image.size == (150, 100)
    samples = {
        "top_left": (20, 15, 55, 35),
        "top_right": (95, 15, 130, 35),
        "bottom_left": (20, 65, 55, 85),
        "bottom_right": (95, 65, 130, 85),
    }
    for quadrant, box in samples.items():
        assert close(mean_colour(image, box), QUADRANT_COLOURS[quadrant], tolerance=20), quadrant


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_orientation_applies_before_cover_crop(orientation: int) -> None:
    upright = quadrants(400, 800)  # portrait as displayed, landscape as stored
    thumbnail, image = render_one(with_orientation(upright, orientation), sizes=(Size(200, 100),))
    assert image.size == (200, 100)
    assert (thumbnail.width, thumbnail.height) == (200, 100)
    # a 400x200 crop from the middle of the upright image: top half is the top quadrants' bottom part
    assert close(mean_colour(image, (10, 10, 90, 40)), QUADRANT_COLOURS["top_left"], tolerance=20)
    assert close(mean_colour(image, (110, 60, 190, 90)), QUADRANT_COLOURS["bottom_right"], tolerance=20)


def test_corrupt_exif_does_not_cost_the_thumbnail() -> None:
    _, image = render_one(with_corrupt_exif(quadrants(300, 200)), mode=FitMode.CONTAIN)
    assert image.size[0] > 0


@pytest.mark.parametrize(
    ("mode", "source", "expected"),
    [
        (FitMode.COVER, (4000, 3000), (200, 200)),
        (FitMode.CONTAIN, (4000, 3000), (200, 150)),
        (FitMode.PAD, (4000, 3000), (200, 200)),
        (FitMode.STRETCH, (4000, 3000), (200, 200)),
        (FitMode.COVER, (120, 80), (80, 80)),
        (FitMode.CONTAIN, (120, 80), (120, 80)),
        (FitMode.PAD, (120, 80), (200, 200)),
        (FitMode.STRETCH, (120, 80), (120, 80)),
        (FitMode.COVER, (10000, 10), (10, 10)),
        (FitMode.CONTAIN, (10000, 10), (200, 1)),
        (FitMode.CONTAIN, (10, 10000), (1, 200)),
        (FitMode.COVER, (1, 1), (1, 1)),
        (FitMode.CONTAIN, (1, 10000), (1, 200)),
    ],
)
def test_geometry_modes(mode: FitMode, source: tuple[int, int], expected: tuple[int, int]) -> None:
    _, image = render_one(encode(photo_like(*source), "PNG"), mode=mode)
    assert image.size == expected


def test_cover_crops_the_centre_without_distortion() -> None:
    source = Image.new("RGB", (600, 200), "red")
    ImageDraw.Draw(source).rectangle((200, 0, 399, 199), fill="blue")  # the centre third
    _, image = render_one(encode(source, "PNG"))
    assert image.size == (200, 200)
    assert close(mean_colour(image, (5, 5, 195, 195)), (0, 0, 255))


def test_pad_uses_the_background_colour() -> None:
    _, image = render_one(encode(Image.new("RGB", (400, 200), "blue"), "PNG"), mode=FitMode.PAD)
    assert image.size == (200, 200)
    assert close(mean_colour(image, (0, 0, 200, 40)), (255, 255, 255))
    assert close(mean_colour(image, (0, 60, 200, 140)), (0, 0, 255))


def test_pad_with_a_transparent_background_makes_a_transparent_thumbnail() -> None:
    data = encode(Image.new("RGB", (400, 200), "blue"), "PNG")
    thumbnail, image = render_one(data, mode=FitMode.PAD, background=(0, 0, 0, 0))
    assert thumbnail.format == "webp"
    assert image.getpixel((100, 10))[3] == 0  # type: ignore[index]
    assert image.getpixel((100, 100))[3] == 255  # type: ignore[index]


@pytest.mark.parametrize(
    ("output", "source_format", "expected_format", "content_type"),
    [
        (OutputFormat.JPEG, "PNG", "JPEG", "image/jpeg"),
        (OutputFormat.PNG, "JPEG", "PNG", "image/png"),
        (OutputFormat.WEBP, "JPEG", "WEBP", "image/webp"),
        (OutputFormat.AVIF, "JPEG", "AVIF", "image/avif"),
        (OutputFormat.ORIGINAL, "PNG", "PNG", "image/png"),
        (OutputFormat.ORIGINAL, "WEBP", "WEBP", "image/webp"),
        (OutputFormat.ORIGINAL, "GIF", "GIF", "image/gif"),
        (OutputFormat.ORIGINAL, "JPEG", "JPEG", "image/jpeg"),
        (OutputFormat.ORIGINAL, "BMP", "JPEG", "image/jpeg"),
        (OutputFormat.ORIGINAL, "TIFF", "JPEG", "image/jpeg"),
        (OutputFormat.AUTO, "PNG", "JPEG", "image/jpeg"),
    ],
)
def test_output_formats(output: OutputFormat, source_format: str, expected_format: str, content_type: str) -> None:
    source = photo_like(500, 400)
    thumbnail, image = render_one(encode(source, source_format), format=output)
    assert image.format == expected_format
    assert thumbnail.content_type == content_type
    assert image.size == (200, 200)


def test_format_is_identified_by_content_not_name() -> None:
    # render_thumbnails never sees a name: a JPEG is a JPEG whatever the upload was called
    rendering = render_thumbnails(encode(photo_like(300, 300), "JPEG"), DEFAULT)
    assert rendering.source_format == "JPEG"


def test_thumbnails_carry_no_metadata() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 29.0)  # GPSLatitude
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(photo_like(400, 300), "JPEG", exif=exif, icc_profile=srgb, comment=b"secret")
    assert Image.open(io.BytesIO(data)).getexif()  # the source does have EXIF
    for output in (OutputFormat.JPEG, OutputFormat.PNG, OutputFormat.WEBP, OutputFormat.AVIF):
        thumbnail, image = render_one(data, format=output)
        assert not image.getexif(), output
        assert "icc_profile" not in image.info, output
        assert b"secret" not in thumbnail.data
        assert b"Camera maker" not in thumbnail.data


def test_embedded_icc_profile_is_converted_to_srgb() -> None:
    tagged_red = encode(Image.new("RGB", (300, 300), (255, 0, 0)), "PNG", icc_profile=swapped_primaries_profile())
    _, image = render_one(tagged_red)
    assert close(mean_colour(image, (50, 50, 150, 150)), (0, 0, 255), tolerance=20)


def test_several_sizes_from_one_decode() -> None:
    settings = ImagingSettings(sizes=(Size(200, 200), Size(64, 64), Size(300, 100)))
    rendering = render_thumbnails(encode(photo_like(1200, 900), "JPEG"), settings)
    sizes = [Image.open(io.BytesIO(t.data)).size for t in rendering.thumbnails]
    assert sizes == [(200, 200), (64, 64), (300, 100)]


def test_twelve_megapixel_jpeg_keeps_quality_with_draft() -> None:
    source = photo_like(4000, 3000)
    _, image = render_one(encode(source, "JPEG", quality=92))
    reference = source.resize((200, 200), Image.Resampling.LANCZOS, box=(500, 0, 3500, 3000))
    ceiling = psnr(Image.open(io.BytesIO(encode(reference, "JPEG", quality=85))), reference)
    assert image.size == (200, 200)
    assert psnr(image, reference) >= ceiling - 0.5


def test_animated_gif_gives_its_first_frame_when_asked() -> None:
    frames = [Image.new("RGB", (300, 300), colour) for colour in ("red", "lime", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    thumbnail, image = render_one(data, animation=Animation.FIRST_FRAME)
    assert thumbnail.format == "jpeg"
    assert close(mean_colour(image, (50, 50, 150, 150)), (255, 0, 0), tolerance=5)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", errors.EmptyObject),
        (b"hello, I am text pretending to be a JPEG", errors.NotAnImage),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><image href="http://example.com/x.png"/></svg>', errors.NotAnImage),
        (encode(photo_like(300, 300), "JPEG")[:600], errors.CorruptImage),
        (encode(photo_like(300, 300), "PNG")[:2000], errors.CorruptImage),
        (png_bomb(), errors.TooManyPixels),
        (png_bomb(8000, 8000), errors.TooManyPixels),
        (jpeg_claiming(65000, 65000), errors.TooManyPixels),
        (encode(Image.new("RGB", (10, 10)), "PDF"), errors.NotAnImage),
    ],
    ids=["empty", "text", "svg", "truncated jpeg", "truncated png", "png bomb", "64 MP png", "jpeg 65000x65000", "pdf"],
)
def test_bad_input_is_a_permanent_error(data: bytes, error: type[errors.PermanentError]) -> None:
    with pytest.raises(error):
        render_thumbnails(data, DEFAULT)


def test_pixel_limit_is_configurable() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(errors.TooManyPixels, match="MAX_INPUT_PIXELS"):
        render_thumbnails(data, ImagingSettings(max_input_pixels=9_999))
    assert render_thumbnails(data, ImagingSettings(max_input_pixels=10_000)).thumbnails


def test_byte_limit_is_configurable() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(errors.InputTooLarge, match="MAX_INPUT_BYTES"):
        render_thumbnails(data, ImagingSettings(max_input_bytes=len(data) - 1))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_tiff_orientation_is_applied_once(orientation: int) -> None:
    upright = quadrants(600, 400)
    stored = upright.transpose(
        {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    )
    data = encode(stored, "TIFF", tiffinfo={0x0112: orientation})
    _, image = render_one(data, mode=FitMode.CONTAIN, sizes=(Size(150, 150),))
    assert image.size == (150, 100)
    assert close(mean_colour(image, (20, 15, 55, 35)), QUADRANT_COLOURS["top_left"], tolerance=20)
    assert close(mean_colour(image, (95, 65, 130, 85)), QUADRANT_COLOURS["bottom_right"], tolerance=20)


@pytest.mark.parametrize(
    ("source", "box", "image_format"),
    [((351, 197), (320, 180), "PNG"), ((4853, 2452), (160, 90), "JPEG"), ((2857, 403), (1280, 720), "PNG")],
)
def test_cover_with_non_square_boxes_never_reaches_past_the_edge(
    source: tuple[int, int], box: tuple[int, int], image_format: str
) -> None:
    """Regression: a crop edge rounded to -1e-14 made Pillow refuse valid images."""
    _, image = render_one(encode(photo_like(*source), image_format), sizes=(Size(*box),))
    assert image.size[0] / image.size[1] == pytest.approx(box[0] / box[1], rel=0.02)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_colour_key_transparency_is_kept(mode: str) -> None:
    image = Image.new(mode, (400, 300), 0 if mode == "L" else (0, 0, 0))
    ImageDraw.Draw(image).rectangle((200, 0, 399, 299), fill=200 if mode == "L" else (200, 0, 0))
    data = encode(image, "PNG", transparency=0 if mode == "L" else (0, 0, 0))
    thumbnail, webp = render_one(data, mode=FitMode.CONTAIN)
    assert thumbnail.format == "webp"
    assert webp.getpixel((20, 75))[3] == 0  # type: ignore[index]
    _, jpeg = render_one(data, mode=FitMode.CONTAIN, format=OutputFormat.JPEG)
    assert close(mean_colour(jpeg, (10, 60, 50, 90)), (255, 255, 255), tolerance=3)


def test_multi_picture_jpeg_is_a_jpeg() -> None:
    """Phone cameras write MPO (JPEG plus extra pictures): shrink-on-decode and `original` apply."""
    first, second = photo_like(1600, 1200), photo_like(160, 120, seed=3)
    data = encode(first, "MPO", save_all=True, append_images=[second], quality=90)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    rendering = render_thumbnails(data, ImagingSettings(format=OutputFormat.ORIGINAL))
    image = Image.open(io.BytesIO(rendering.thumbnails[0].data))
    assert (image.format, image.size) == ("JPEG", (200, 200))
    reference = first.resize((200, 200), Image.Resampling.LANCZOS, box=(200, 0, 1400, 1200))
    assert psnr(image, reference) > 28


@pytest.mark.parametrize("output", [OutputFormat.JPEG, OutputFormat.WEBP, OutputFormat.PNG, OutputFormat.AVIF])
def test_keep_exif_credits_keeps_artist_and_copyright_only(output: OutputFormat) -> None:
    exif = Image.Exif()
    exif[0x013B] = "Ada Photographer"
    exif[0x8298] = "(c) 2026 Ada"
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 29.0)  # GPSLatitude
    data = encode(photo_like(400, 300), "JPEG", exif=exif)
    thumbnail, image = render_one(data, format=output, keep_exif_credits=True)
    kept = image.getexif()
    assert (kept.get(0x013B), kept.get(0x8298)) == ("Ada Photographer", "(c) 2026 Ada")
    assert 0x010F not in kept
    assert not kept.get_ifd(0x8825)
    assert b"Camera maker" not in thumbnail.data
    _, plain = render_one(data, format=output)
    assert not plain.getexif()  # off by default


def test_each_size_may_have_its_own_mode_format_and_quality() -> None:
    settings = ImagingSettings(
        sizes=parsers.parse_sizes("300x300:mode=contain:quality=95,64x64:format=png,120x80"), quality=30
    )
    big, icon, card = render_thumbnails(encode(photo_like(800, 400), "JPEG"), settings).thumbnails
    assert (big.format, big.width, big.height) == ("jpeg", 300, 150)  # contain: the whole picture
    assert (icon.format, icon.width, icon.height) == ("png", 64, 64)  # the global cover mode
    assert (card.format, card.width, card.height) == ("jpeg", 120, 80)
    low = ImagingSettings(sizes=parsers.parse_sizes("300x300:mode=contain"), quality=30)
    assert len(big.data) > len(render_thumbnails(encode(photo_like(800, 400), "JPEG"), low).thumbnails[0].data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("200x200:colour=red", "unknown option 'colour'"),
        ("200x200:quality=0", "quality"),
        ("200x200:format=tiff", "format"),
        ("200x200,200x200:format=png", "lists a size twice"),
    ],
)
def test_size_options_are_checked(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parsers.parse_sizes(text)
