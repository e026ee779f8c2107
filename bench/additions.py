"""What each addition of issue #14 costs, measured on the function's own path.

Each row times, interleaved: the default render (placeholders on, Vision off), the same
with the placeholders stubbed out (what the render cost before them), with the 640-pixel
copy Vision is sent (``analysis_side``), and with ``THUMBNAIL_MODE=attention``; and,
apart, the placeholders alone on a 200x200 thumbnail and the moderation blur.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from bench.corpus import Item
from bench.measure import Timings, median_times
from thumbnailer import imaging
from thumbnailer.config import ImagingSettings
from thumbnailer.domain import FitMode, OutputFormat, Size
from thumbnailer.placeholders import placeholders
from thumbnailer.vision import ANALYSIS_SIDE

ITEMS = ("JPEG 12 MP", "PNG 12 MP RGBA")
_SETTINGS = ImagingSettings(sizes=(Size(200, 200),), format=OutputFormat.JPEG, quality=85)


@dataclass(frozen=True)
class AdditionRow:
    name: str
    timings: Timings  # default, no-placeholders, vision-copy, attention (ms)


@dataclass(frozen=True)
class Additions:
    rows: list[AdditionRow]
    small: Timings  # placeholders and blur on one 200x200 thumbnail (ms)


def _render(data: bytes, settings: ImagingSettings = _SETTINGS, analysis_side: int | None = None) -> object:
    return imaging.render_thumbnails(data, settings, analysis_side=analysis_side)


def _without_placeholders(data: bytes) -> object:
    real = imaging.placeholders
    imaging.placeholders = lambda image: ("", "")
    try:
        return _render(data)
    finally:
        imaging.placeholders = real


def measure_additions(items: list[Item], runs: int) -> Additions:
    rows = []
    for item in items:
        if item.name not in ITEMS:
            continue
        tasks: dict[str, Callable[[], object]] = {
            "default": functools.partial(_render, item.data),
            "no-placeholders": functools.partial(_without_placeholders, item.data),
            "vision-copy": functools.partial(_render, item.data, analysis_side=ANALYSIS_SIDE),
            "attention": functools.partial(_render, item.data, _SETTINGS._replace(mode=FitMode.ATTENTION)),
        }
        rows.append(AdditionRow(item.name, median_times(tasks, runs)))
    thumbnail = imaging.render_thumbnails(items[0].data, _SETTINGS).thumbnails[0]
    decoded = Image.open(io.BytesIO(thumbnail.data)).convert("RGB")
    small = median_times(
        {
            "placeholders": functools.partial(placeholders, decoded),
            "blur": functools.partial(imaging.blurred, thumbnail, 85),
        },
        max(runs, 50),
    )
    return Additions(rows, small)


def additions_table(result: Additions) -> list[str]:
    lines = [
        "| Item | default ms | before placeholders ms | + Vision copy ms | attention ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in result.rows:
        t = row.timings.median_ms
        base = t.get("no-placeholders")

        def delta(name: str) -> str:
            if name not in t or base is None:
                return row.timings.errors.get(name, "—")
            return f"{t[name]:.1f} ({t[name] / base:.2f}x)"

        lines.append(f"| {row.name} | {delta('default')} | {base:.1f} | {delta('vision-copy')} | {delta('attention')} |")
    small = result.small.median_ms
    lines += [
        "",
        f"On one 200x200 thumbnail: ThumbHash and dominant colour together {small['placeholders']:.2f} ms; "
        f"the moderation blur {small['blur']:.2f} ms.",
        "",
        "Vision off costs nothing: no analysis copy is made and no labels record is looked up "
        "(tests/integration/test_vision.py, `test_vision_off_asks_nothing_and_writes_no_record`); the "
        "Vision request itself (network, about 0.2-1 s on Google) is not timed here.",
    ]
    return lines
