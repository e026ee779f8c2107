"""What a page shows while a thumbnail loads: a ThumbHash and the dominant colour.

Both are computed from the finished thumbnail, shrunk to fit 32x32 (ThumbHash keeps at
most 7 cosine terms a side, which 32 samples resolve; the colour is picked from 16x16),
so together they cost about half a millisecond (bench/RESULTS.md) and never see the
full-size source.

ThumbHash is Evan Wallace's format (github.com/evanw/thumbhash); ``thumbhash-rs`` binds
its official Rust encoder. The pure-Python ports on PyPI took 5 ms at 32x32 and one of
them fails on any transparent image.
"""

import base64

import thumbhash
from PIL import Image

#: The long side of the image the placeholders are computed from.
SAMPLE_SIDE = 32


def placeholders(image: Image.Image) -> tuple[str, str]:
    """(ThumbHash in base64, dominant colour as ``#rrggbb``) of an RGB or RGBA image."""
    scale = SAMPLE_SIDE / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BOX)
    rgba = image.convert("RGBA")
    hashed = bytes(thumbhash.rgba_to_thumb_hash(rgba.width, rgba.height, rgba.tobytes()))
    # Median cut's cost grows with the colours it sorts: 16x16 picks the same colour in a quarter of the time.
    colour_sample = rgba.reduce(2) if min(rgba.size) >= 2 else rgba
    return base64.b64encode(hashed).decode("ascii"), dominant_color(colour_sample)


def dominant_color(rgba: Image.Image) -> str:
    """The most common of eight median-cut colours among the visible pixels."""
    visible = rgba.getchannel("A").point(lambda alpha: 255 if alpha >= 128 else 0)
    quantized = rgba.convert("RGB").quantize(8, Image.Quantize.MEDIANCUT)
    # A fully transparent image: every pixel counts.
    counts = quantized.histogram(mask=visible if visible.getbbox() else None)
    index = max(range(len(counts)), key=counts.__getitem__)
    palette = quantized.getpalette() or [0, 0, 0]
    red, green, blue = palette[3 * index : 3 * index + 3]
    return f"#{red:02x}{green:02x}{blue:02x}"
