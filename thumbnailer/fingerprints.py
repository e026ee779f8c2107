"""``thumbnail-settings``: which settings made a thumbnail, as a short stable hash.

Each thumbnail carries the fingerprint of what shaped its pixels and its format, for
its own size only, so ``backfill --regenerate`` can find the thumbnails a settings
change made stale (and only those: adding a size leaves the others' fingerprints as
they were). Limits (MAX_INPUT_BYTES, MAX_INPUT_PIXELS) decide whether a thumbnail is
made, not what it looks like, and are left out.
"""

import hashlib
import json

from thumbnailer.config import ImagingSettings
from thumbnailer.domain import Size

#: Raised when a release changes what the same settings produce, so --regenerate redoes it.
RENDERING_VERSION = 1


def settings_fingerprint(imaging: ImagingSettings, size: Size) -> str:
    """16 hex digits: equal for thumbnails of ``size`` that the same settings would make."""
    shaping = {
        "rendering": RENDERING_VERSION,
        "box": [size.width, size.height],
        "mode": imaging.mode_for(size).value,
        "format": imaging.format_for(size).value,
        "quality": imaging.quality_for(size),
        "background": list(imaging.background),
        "keep_exif_credits": imaging.keep_exif_credits,
        "animation": imaging.animation.value,
        "max_animation_frames": imaging.max_animation_frames,
        "max_animation_pixels": imaging.max_animation_pixels,
    }
    canonical = json.dumps(shaping, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
