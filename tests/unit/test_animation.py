"""Animated GIF and WebP become animated thumbnails: every frame, its timing and the loop count."""

import io

import pytest
from PIL import Image, ImageSequence

from tests.images import encode, mean_colour
from thumbnailer.config import ImagingSettings
from thumbnailer.domain import Animation, FitMode, OutputFormat, Size
from thumbnailer.imaging import render_thumbnails

COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
DURATIONS = [100, 200, 300]


def animation(image_format: str, size: tuple[int, int] = (400, 300), **options: object) -> bytes:
    frames = [Image.new("RGB", size, colour) for colour in COLOURS]
    return encode(frames[0], image_format, save_all=True, append_images=frames[1:], duration=DURATIONS, **options)


def frames_of(data: bytes) -> tuple[Image.Image, list[Image.Image]]:
    image = Image.open(io.BytesIO(data))
    return image, [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]


def durations_of(data: bytes) -> list[int]:
    image = Image.open(io.BytesIO(data))
    durations = []
    for frame in ImageSequence.Iterator(image):
        frame.load()  # WebP knows a frame's duration once it is decoded
        durations.append(int(frame.info["duration"]))
    return durations


def assert_frames(data: bytes, size: tuple[int, int]) -> Image.Image:
    image, frames = frames_of(data)
    assert len(frames) == 3
    for frame, colour in zip(frames, COLOURS, strict=True):
        assert frame.size == size
        centre = (size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4)
        assert all(abs(a - b) <= 12 for a, b in zip(mean_colour(frame, centre), colour, strict=True))
    return image


@pytest.mark.parametrize(
    ("source", "output", "expected"),
    [
        ("GIF", OutputFormat.AUTO, "webp"),
        ("GIF", OutputFormat.ORIGINAL, "gif"),
        ("WEBP", OutputFormat.AUTO, "webp"),
        ("WEBP", OutputFormat.ORIGINAL, "webp"),
        ("GIF", OutputFormat.WEBP, "webp"),
    ],
)
def test_animations_stay_animated_with_their_timing_and_loop(source: str, output: OutputFormat, expected: str) -> None:
    data = animation(source, loop=0)
    settings = ImagingSettings(sizes=(Size(200, 200), Size(100, 50)), format=output)
    big, small = render_thumbnails(data, settings).thumbnails
    assert (big.format, big.width, big.height) == (expected, 200, 200)
    image = assert_frames(big.data, (200, 200))
    assert_frames(small.data, (100, 50))
    assert durations_of(big.data) == DURATIONS
    assert image.info.get("loop") == 0


def test_a_gif_that_plays_once_still_plays_once() -> None:
    thumbnail = render_thumbnails(animation("GIF"), ImagingSettings()).thumbnails[0]
    assert Image.open(io.BytesIO(thumbnail.data)).info.get("loop") == 1  # WebP's "once"


def test_pad_mode_pads_every_frame() -> None:
    settings = ImagingSettings(sizes=(Size(200, 200),), mode=FitMode.PAD, background=(255, 255, 255, 255))
    thumbnail = render_thumbnails(animation("GIF", size=(400, 200), loop=0), settings).thumbnails[0]
    _, frames = frames_of(thumbnail.data)
    assert all(frame.size == (200, 200) for frame in frames)
    assert all(mean_colour(frame, (10, 5, 190, 40))[0] > 240 for frame in frames)  # the white border


@pytest.mark.parametrize(
    "settings",
    [
        ImagingSettings(animation=Animation.FIRST_FRAME),
        ImagingSettings(format=OutputFormat.JPEG),
        ImagingSettings(max_animation_frames=2),
        ImagingSettings(max_animation_pixels=3 * 400 * 300 - 1),
    ],
    ids=["first-frame", "jpeg", "too many frames", "too many pixels"],
)
def test_still_thumbnail_when_asked_or_over_budget(settings: ImagingSettings) -> None:
    thumbnail = render_thumbnails(animation("GIF", loop=0), settings).thumbnails[0]
    image = Image.open(io.BytesIO(thumbnail.data))
    assert getattr(image, "n_frames", 1) == 1
    assert mean_colour(image, (50, 50, 150, 150))[0] > 240  # the first frame: red


def test_a_size_that_cannot_animate_gets_the_first_frame() -> None:
    settings = ImagingSettings(sizes=(Size(200, 200), Size(64, 64, format=OutputFormat.JPEG)))
    moving, still = render_thumbnails(animation("GIF", loop=0), settings).thumbnails
    assert moving.format == "webp"
    assert len(frames_of(moving.data)[1]) == 3
    assert still.format == "jpeg"
    assert mean_colour(Image.open(io.BytesIO(still.data)), (16, 16, 48, 48))[0] > 240  # red: the first frame


def test_the_budget_counts_the_thumbnails_frames_too() -> None:
    # 300 tiny frames, but padded to two large boxes: gigabytes if every frame were kept.
    frames = [Image.new("RGB", (20, 20), COLOURS[index % 3]) for index in range(300)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    settings = ImagingSettings(sizes=(Size(1200, 1200), Size(1000, 1000)), mode=FitMode.PAD)
    big, _ = render_thumbnails(data, settings).thumbnails
    assert getattr(Image.open(io.BytesIO(big.data)), "n_frames", 1) == 1


def test_credits_travel_in_an_animated_webp() -> None:
    exif = Image.Exif()
    exif[0x8298] = "(c) 2026 Ada"
    frames = [Image.new("RGB", (300, 200), colour) for colour in COLOURS]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=DURATIONS, exif=exif)
    thumbnail = render_thumbnails(data, ImagingSettings(keep_exif_credits=True)).thumbnails[0]
    image = Image.open(io.BytesIO(thumbnail.data))
    assert getattr(image, "n_frames", 1) == 3
    assert image.getexif().get(0x8298) == "(c) 2026 Ada"
