"""The conversion paths compared: encoded bytes in, a 200x200 JPEG (quality 85) out.

Each imports its library inside the function, so the memory probe of one candidate
(a fresh process) pays for its own imports and nobody else's. After the first call
an import statement is a dictionary lookup, far below the timer's noise.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIDE = 200
QUALITY = 85

Conversion = Callable[[bytes], bytes]


@functools.cache
def _project_settings() -> Any:
    from thumbnailer.config import ImagingSettings
    from thumbnailer.domain import OutputFormat, Size

    # Mode (cover) and background (white) are the defaults.
    return ImagingSettings(sizes=(Size(SIDE, SIDE),), format=OutputFormat.JPEG, quality=QUALITY)


def project(data: bytes) -> bytes:
    """The function's own path, through its public entry point so any change to the internals is measured."""
    from thumbnailer.imaging import render_thumbnails

    return render_thumbnails(data, _project_settings()).thumbnails[0].data


def pillow_only(data: bytes) -> bytes:
    """The project's path with Pillow decoding every format: what libvips decoding is measured against."""
    from thumbnailer.imaging import render_thumbnails

    return render_thumbnails(data, _project_settings(), libvips_formats=frozenset()).thumbnails[0].data


def naive(data: bytes) -> bytes:
    """The issue's baseline, deliberately naive: full decode, stretched to the box, orientation ignored."""
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB").resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


@functools.cache
def _pyvips() -> Any:
    import pyvips

    # Every run converts the same bytes: libvips' operation cache could hand back a
    # previous run's result and time nothing. A service sees new bytes each time.
    pyvips.cache_set_max(0)
    return pyvips


def libvips_threads() -> int:
    """libvips' own default thread count: VIPS_CONCURRENCY, else the cores this process may use."""
    return int(os.environ.get("VIPS_CONCURRENCY") or len(os.sched_getaffinity(0)))


def libvips(data: bytes) -> bytes:
    """libvips' thumbnail (shrink-on-load, centre crop, upright per EXIF), alpha flattened onto white."""
    pyvips = _pyvips()
    # The thread count is process-wide and the project sets its own when it loads libvips:
    # this candidate is libvips as it comes, and leaves the setting as it found it.
    previous = pyvips.concurrency_get()
    pyvips.concurrency_set(libvips_threads())
    try:
        image = pyvips.Image.thumbnail_buffer(data, SIDE, height=SIDE, crop="centre")
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        output: bytes = image.jpegsave_buffer(Q=QUALITY)
    finally:
        pyvips.concurrency_set(previous)
    return output


def floor(path: Path) -> None:
    """The least work any JPEG thumbnailer does: read the file and decode it at 1/8 scale."""
    from PIL import Image

    image = Image.open(io.BytesIO(path.read_bytes()))
    image.draft(image.mode, (image.width // 8, image.height // 8))
    image.load()


CONVERSIONS: dict[str, Conversion] = {
    "project": project,
    "pillow-only": pillow_only,
    "naive": naive,
    "libvips": libvips,
}
