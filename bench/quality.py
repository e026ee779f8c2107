"""PSNR against a float reference thumbnail, without numpy (not a dependency)."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageChops, ImageCms, ImageOps

from bench.candidates import QUALITY, SIDE

Box = tuple[float, float, float, float]
_SRGB = ImageCms.createProfile("sRGB")


def squared_error(a: Image.Image, b: Image.Image) -> int:
    """Sum of squared differences over every channel of two same-size images of one mode."""
    histogram = ImageChops.difference(a, b).histogram()
    # The histogram is 256 counts per channel, one after another; value = index mod 256.
    return sum(count * (index % 256) ** 2 for index, count in enumerate(histogram))


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB of two same-size RGB images; inf when identical."""
    if a.size != b.size:
        raise ValueError(f"sizes differ: {a.size} and {b.size}")
    a, b = a.convert("RGB"), b.convert("RGB")
    mse = squared_error(a, b) / (a.width * a.height * 3)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def cover_box(width: int, height: int) -> Box:
    """The largest centred square: what cover mode keeps of a ``width`` x ``height`` image for a square box."""
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


def _to_srgb(image: Image.Image) -> Image.Image:
    """RGB: through an embedded ICC profile when there is one, else Pillow's plain conversion (CMYK too)."""
    profile = image.info.get("icc_profile")
    if profile and image.mode in ("RGB", "CMYK"):
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        assert converted is not None  # None only when converting in place
        return converted
    return image.convert("RGB")


def _flattened(image: Image.Image) -> Image.Image:
    """RGB; transparency composited onto white, as the project and the libvips candidate do."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return _to_srgb(image)


def reference(data: bytes) -> Image.Image:
    """The best 200x200 thumbnail 8 bits can hold: full decode, upright, sRGB, flattened, cover crop,
    Lanczos in floating point per channel, rounded once at the end."""
    with Image.open(io.BytesIO(data)) as opened:
        upright = ImageOps.exif_transpose(opened)  # also the first frame of an animation
        image = _flattened(upright)
    box = cover_box(*image.size)
    channels = [
        # F -> L truncates, so add 0.5 to round to nearest.
        channel.convert("F").resize((SIDE, SIDE), Image.Resampling.LANCZOS, box=box).point(lambda v: v + 0.5)
        for channel in image.split()
    ]
    return Image.merge("RGB", [channel.convert("L") for channel in channels])


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def ceiling(reference_image: Image.Image) -> float:
    """PSNR of the reference's own JPEG at the candidates' quality: no thumbnailer can beat it by much."""
    buffer = io.BytesIO()
    reference_image.save(buffer, "JPEG", quality=QUALITY)
    return psnr(decode(buffer.getvalue()), reference_image)
