"""libvips as a shrinking decoder, for the formats Pillow can only decode whole.

Pillow shrinks JPEGs while decoding (DCT scaling) but must decode every pixel of a PNG
or WebP first: a 24 MP RGBA PNG is 96 MB of pixels before the first resample.
libvips streams PNGs through its shrinker a few lines at a time and has libwebp decode
at a reduced scale, which is faster and needs a fraction of the memory (figures in
bench/RESULTS.md). It only decodes and shrinks here, to a size that leaves headroom;
cropping, orientation, colour conversion, the final Lanczos resample and encoding stay
in imaging.py, so both paths make the same thumbnail.

Imported on first use only: the common path (JPEG) never loads libvips.
"""

import logging
from typing import NamedTuple

import pyvips
from PIL import Image

from thumbnailer import diagnostics

# A server thumbnails each upload once: cached operations would only hold memory.
pyvips.cache_set_max(0)
# One worker thread per conversion: a second one saved no time on PNG or WebP decoding
# (sequential by nature) and cost 14 MB at 24 MP; functions-framework already runs
# concurrent requests on their own threads.
pyvips.concurrency_set(1)
# libvips warns once per damaged scanline; the one error raised below says it once.
logging.getLogger("pyvips").setLevel(logging.ERROR)
diagnostics.capture_glib()

# libvips interpretation and band count -> the Pillow mode of the same pixels.
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


class DecodeError(Exception):
    """libvips could not decode the data (truncated or corrupt)."""


class Header(NamedTuple):
    width: int
    height: int
    orientation: int  # the EXIF orientation libvips read (it applies none itself here)
    exif: bytes | None


def read_header(data: bytes) -> Header:
    """What libvips reads before decoding any pixel."""
    try:
        image = pyvips.Image.new_from_source(pyvips.Source.new_from_memory(data), "", access="sequential")
        fields = image.get_fields()
        orientation = image.get("orientation") if "orientation" in fields else 1
        exif = image.get("exif-data") if "exif-data" in fields else None
    except pyvips.Error as error:
        raise DecodeError(_message(error)) from None
    return Header(image.width, image.height, orientation if 1 <= orientation <= 8 else 1, exif)


def _message(error: pyvips.Error) -> str:
    return ": ".join(line.strip() for line in str(error).splitlines() if line.strip())


def decode_shrunk(data: bytes, width: int, height: int) -> tuple[Image.Image, bytes | None]:
    """Decode ``data`` straight to ``width`` x ``height`` pixels (stored orientation).

    Returns the pixels as a Pillow image in L, LA, RGB, RGBA or CMYK, and the ICC
    profile that still describes them (None once they are sRGB).
    """
    try:
        # A source over the bytes, not thumbnail_buffer, which copies them first (25 MB for a
        # 24 MP PNG). fail_on goes to the loader: a truncated file is an error, not a
        # half-grey image.
        image = pyvips.Image.thumbnail_source(
            pyvips.Source.new_from_memory(data),
            width,
            height=height,
            size="force",
            no_rotate=True,
            option_string="fail_on=truncated",
        )
        if image.format != "uchar":
            image = image.cast("uchar", shift=True)  # 16-bit samples: keep the top 8 bits
        mode = "CMYK" if image.interpretation == "cmyk" else _MODES.get(image.bands)
        if mode is None:
            image = image.extract_band(0, n=3)  # extra bands beyond alpha carry nothing we show
            mode = "RGB"
        pixels = image.write_to_memory()
        icc_profile = image.get("icc-profile-data") if "icc-profile-data" in image.get_fields() else None
    except pyvips.Error as error:
        raise DecodeError(_message(error)) from None
    return Image.frombuffer(mode, (image.width, image.height), pixels, "raw", mode, 0, 1), icc_profile


def attention_centre(image: Image.Image, width: int, height: int) -> tuple[int, int]:
    """Where libvips' ``smartcrop`` (``interesting=attention``: skin tones, saturated colour
    and edges) centres a ``width`` x ``height`` crop of a decoded image."""
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    bands = len(image.mode)
    vips_image = pyvips.Image.new_from_memory(image.tobytes(), image.width, image.height, bands, "uchar")
    if bands == 3:
        vips_image = vips_image.copy(interpretation="srgb")
    _, found = vips_image.smartcrop(width, height, interesting="attention", attention_x=True, attention_y=True)
    return int(found["attention_x"]), int(found["attention_y"])
