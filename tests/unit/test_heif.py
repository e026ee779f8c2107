"""HEIC/HEIF input (pillow-heif), as phones write it; generated here with pillow-heif's encoder."""

import io

import pillow_heif
import pytest
from PIL import Image

from tests.images import mean_colour, modules_after_rendering, photo_like, psnr
from thumbnailer import errors
from thumbnailer.config import ImagingSettings
from thumbnailer.domain import FitMode, OutputFormat, Size
from thumbnailer.imaging import render_thumbnails


def heic(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=90, **options)
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_heic_photo_becomes_a_jpeg_thumbnail() -> None:
    source = photo_like(1600, 1200)
    rendering = render_thumbnails(heic(source), ImagingSettings())
    assert rendering.source_format == "HEIF"
    [thumbnail] = rendering.thumbnails
    assert (thumbnail.format, thumbnail.width, thumbnail.height) == ("jpeg", 200, 200)
    reference = source.resize((200, 200), Image.Resampling.LANCZOS, box=(200, 0, 1400, 1200))
    assert psnr(decoded(thumbnail.data), reference) >= 30


def test_heic_rotation_is_applied_once() -> None:
    # As a phone stores it: the pixels sideways, with a rotation for viewers. pillow-heif
    # applies the rotation on reading and resets the EXIF orientation to 1, so the
    # thumbnail must not turn it a second time.
    upright = Image.new("RGB", (400, 200), (255, 0, 0))
    upright.paste((0, 0, 255), (0, 0, 100, 200))  # blue on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    data = heic(upright.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())
    settings = ImagingSettings(sizes=(Size(200, 100),), mode=FitMode.CONTAIN, format=OutputFormat.PNG)
    thumbnail = decoded(render_thumbnails(data, settings).thumbnails[0].data)
    assert thumbnail.size == (200, 100)
    assert mean_colour(thumbnail, (5, 20, 40, 80))[2] > 200  # blue on the left
    assert mean_colour(thumbnail, (150, 20, 195, 80))[0] > 200  # red on the right


def test_truncated_heic_is_corrupt() -> None:
    data = heic(photo_like(800, 600))
    with pytest.raises(errors.CorruptImage):
        render_thumbnails(data[: len(data) // 2], ImagingSettings())


def test_other_formats_never_load_pillow_heif() -> None:
    assert "pillow_heif" not in modules_after_rendering("JPEG", "PNG", "AVIF")
