"""Placeholders (ThumbHash, dominant colour), attention crops and moderation blur."""

import base64
import io
import statistics

import thumbhash
from PIL import Image, ImageDraw, ImageFilter

from tests.images import encode, photo_like, rgb_pixels
from thumbnailer.config import ImagingSettings
from thumbnailer.domain import FitMode, Size
from thumbnailer.imaging import blurred, render_thumbnails
from thumbnailer.placeholders import SAMPLE_SIDE, dominant_color, placeholders


def decoded_placeholder(encoded: str) -> tuple[float, tuple[float, float, float, float]]:
    """What a page shows from a ThumbHash: its aspect ratio and average colour."""
    raw = base64.b64decode(encoded)
    return thumbhash.thumb_hash_to_approximate_aspect_ratio(raw), thumbhash.thumb_hash_to_average_rgba(raw)


def test_the_thumbhash_keeps_the_aspect_ratio_and_the_average_colour() -> None:
    image = Image.new("RGB", (200, 100), (200, 40, 40))
    ImageDraw.Draw(image).rectangle((100, 0, 199, 99), fill=(40, 40, 200))
    encoded, _ = placeholders(image)
    ratio, (red, green, blue, alpha) = decoded_placeholder(encoded)
    assert 1.6 <= ratio <= 2.2  # approximate by design (7 by 4 terms)
    assert abs(red * 255 - 120) < 12
    assert abs(blue * 255 - 120) < 12
    assert green * 255 < 60
    assert alpha == 1.0


def test_the_thumbhash_of_a_transparent_image_says_so() -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((25, 25, 75, 75), fill=(0, 160, 0, 255))
    encoded, colour = placeholders(image)
    _, (_, green, _, alpha) = decoded_placeholder(encoded)
    assert 0.1 < alpha < 0.5  # about a fifth of the square is the disc
    assert green > 0.4
    assert colour == "#00a000"  # the visible pixels' colour, not the transparent black


def test_the_thumbhash_is_computed_from_a_small_sample() -> None:
    """The same bytes whether the thumbnail is shrunk first or not: it always is."""
    image = photo_like(200, 150)
    sample = image.resize((SAMPLE_SIDE, 24), Image.Resampling.BOX).convert("RGBA")
    expected = base64.b64encode(bytes(thumbhash.rgba_to_thumb_hash(32, 24, sample.tobytes()))).decode()
    assert placeholders(image)[0] == expected


def test_the_dominant_colour_is_the_most_common_not_the_average() -> None:
    image = Image.new("RGBA", (32, 32), (250, 200, 0, 255))  # mostly yellow
    ImageDraw.Draw(image).rectangle((0, 0, 31, 9), fill=(0, 0, 255, 255))
    assert dominant_color(image) == "#fac800"


def test_every_thumbnail_carries_its_placeholders() -> None:
    data = encode(Image.new("RGB", (640, 480), (10, 120, 200)), "JPEG")
    rendering = render_thumbnails(data, ImagingSettings(sizes=(Size(200, 200), Size(64, 64))))
    for thumbnail in rendering.thumbnails:
        red, green, blue = (int(thumbnail.color[i : i + 2], 16) for i in (1, 3, 5))
        assert max(abs(red - 10), abs(green - 120), abs(blue - 200)) < 8, thumbnail.color
        _, average = decoded_placeholder(thumbnail.thumbhash)
        assert abs(average[2] * 255 - 200) < 12


def subject_near_the_right_edge() -> Image.Image:
    image = Image.new("RGB", (900, 300), (120, 120, 120))
    draw = ImageDraw.Draw(image)
    for index in range(12):  # a textured, saturated subject in the last 200 pixels
        draw.ellipse(
            (720 + index * 10, 60 + index * 12, 800 + index * 8, 140 + index * 10), fill=(220, 30 * index % 255, 40)
        )
    return image


def test_an_attention_crop_keeps_a_subject_near_the_edge() -> None:
    data = encode(subject_near_the_right_edge(), "PNG")
    cover = render_thumbnails(data, ImagingSettings(mode=FitMode.COVER)).thumbnails[0]
    attention = render_thumbnails(data, ImagingSettings(mode=FitMode.ATTENTION)).thumbnails[0]
    assert (attention.width, attention.height) == (200, 200)

    def red_pixels(encoded: bytes) -> int:
        return sum(1 for r, g, b in rgb_pixels(Image.open(io.BytesIO(encoded))) if r > 180 and b < 90)

    assert red_pixels(cover.data) == 0  # the centre crop misses the subject entirely
    assert red_pixels(attention.data) > 2000


def test_an_attention_crop_of_a_uniform_image_is_the_centre_crop() -> None:
    data = encode(Image.new("RGB", (900, 300), (90, 140, 30)), "PNG")
    cover = render_thumbnails(data, ImagingSettings(mode=FitMode.COVER)).thumbnails[0]
    attention = render_thumbnails(data, ImagingSettings(sizes=(Size(200, 200, mode=FitMode.ATTENTION),)))
    assert attention.thumbnails[0].data == cover.data


def test_a_blurred_thumbnail_keeps_no_detail() -> None:
    detailed = photo_like(200, 200)
    draw = ImageDraw.Draw(detailed)
    for x in range(0, 200, 8):  # fine stripes, like text
        draw.line((x, 0, x, 199), fill=(0, 0, 0), width=2)
    thumbnail = render_thumbnails(encode(detailed, "PNG"), ImagingSettings()).thumbnails[0]
    moderated = blurred(thumbnail, quality=85)
    image = Image.open(io.BytesIO(moderated.data)).convert("L")
    assert image.size == (200, 200)
    assert moderated.content_type == thumbnail.content_type
    edges = image.filter(ImageFilter.FIND_EDGES).crop((2, 2, 198, 198))
    # No edge anywhere (a JPEG block boundary at most): neither stripes nor shapes survive.
    assert statistics.mean(edges.getdata()) < 1.5
    assert max(edges.getdata()) < 24
    original_edges = Image.open(io.BytesIO(thumbnail.data)).convert("L").filter(ImageFilter.FIND_EDGES)
    assert statistics.mean(original_edges.getdata()) > 20
    assert moderated.thumbhash != thumbnail.thumbhash


def test_a_blurred_animation_is_a_still() -> None:
    frames = [Image.new("RGB", (120, 120), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    thumbnail = render_thumbnails(buffer.getvalue(), ImagingSettings()).thumbnails[0]
    assert thumbnail.format == "webp"
    moderated = blurred(thumbnail, quality=85)
    assert getattr(Image.open(io.BytesIO(moderated.data)), "n_frames", 1) == 1
