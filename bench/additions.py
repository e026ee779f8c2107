"""What each addition of issue #14 costs, measured on the function's own path.

Each row times, interleaved: the default render (placeholders on, Vision off), the same
with the placeholders stubbed out (what the render cost before them), with the 640-pixel
copy Vision is sent (``analysis_side``), and with ``THUMBNAIL_MODE=attention``; and,
apart, the placeholders alone on a 200x200 thumbnail and the moderation blur.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
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
    return _render(data, _SETTINGS._replace(with_placeholders=False))


def measure_additions(items: Sequence[Item], runs: int) -> Additions:
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


def _cell(timings: Timings, name: str) -> str:
    """A time and its ratio to the render before the placeholders."""
    base = timings.median_ms.get("no-placeholders")
    if name not in timings.median_ms or base is None:
        return timings.errors.get(name, "—")
    return f"{timings.median_ms[name]:.1f} ({timings.median_ms[name] / base:.2f}x)"


def additions_table(result: Additions) -> list[str]:
    lines = [
        "| Item | default ms | before placeholders ms | + Vision copy ms | attention ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in result.rows:
        base = row.timings.median_ms.get("no-placeholders")
        cells = [_cell(row.timings, name) for name in ("default", "vision-copy", "attention")]
        before = f"{base:.1f}" if base is not None else row.timings.errors.get("no-placeholders", "—")
        lines.append(f"| {row.name} | {cells[0]} | {before} | {cells[1]} | {cells[2]} |")
    small = result.small.median_ms
    lines += [
        "",
        f"On one 200x200 thumbnail: ThumbHash and dominant colour together {small.get('placeholders', 0):.2f} ms; "
        f"the moderation blur {small.get('blur', 0):.2f} ms.",
        "",
        "Vision off costs nothing: no analysis copy is made and no labels record is looked up "
        "(tests/integration/test_vision.py, `test_vision_off_asks_nothing_and_writes_no_record`). With Vision "
        "on, the copy costs what the JPEG row shows (a 640-pixel copy needs a larger DCT scale); the request "
        "itself is network time on Google, not timed here.",
    ]
    return lines
