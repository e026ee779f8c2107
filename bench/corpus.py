"""The benchmark's inputs, drawn by code: nothing is downloaded or committed.

Photo-like content (smooth light, hard edges, sensor grain), because noise alone or
flat colour would make every codec look unrealistically fast or slow. Each image is
encoded in memory and also written to a folder the caller owns, since the floor and
the memory probes read their input from disk.
"""

from __future__ import annotations

import io
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, features

from localdev.samples import landscape

logger = logging.getLogger(__name__)

# Target groups (see bench.targets): which speed targets an item is held to.
BASELINE_JPEG = "baseline JPEG"
LIBVIPS_PARITY = "libvips parity"

MP1 = (1155, 866)
MP12 = (4000, 3000)
MP24 = (6000, 4000)
GIF_SIZE = (1000, 750)
GIF_FRAMES = 10
_EXIF_ORIENTATION = 0x0112
# Blend weight of the grain, as in localdev.latency: without it JPEGs come out a
# fraction of a real photo's size and decode faster than a real photo would.
_GRAIN_WEIGHT = 0.12


@dataclass(frozen=True)
class Item:
    name: str
    format: str  # Pillow's name of the container: JPEG, PNG, WEBP, AVIF, GIF, HEIF
    data: bytes
    path: Path
    timed: bool = True  # False: only the memory check uses it
    group: str | None = None  # speed-target group, None: no speed target

    @property
    def is_jpeg(self) -> bool:
        return self.format == "JPEG"


@dataclass(frozen=True)
class Unsupported:
    """A format the issue asks about that this machine cannot make: shown, not silently dropped."""

    name: str
    reason: str


@dataclass(frozen=True)
class Batch:
    """Files of one format for the whole-process comparison, on disk."""

    name: str
    files: tuple[Path, ...]


@dataclass(frozen=True)
class Corpus:
    items: tuple[Item, ...]
    unsupported: tuple[Unsupported, ...]
    throughput: tuple[bytes, ...]  # different 12 MP baseline JPEGs
    batches: tuple[Batch, ...] = ()
    tiny_jpeg: Path | None = None  # the command line's start-up: a one-file run that is all start-up

    @property
    def timed(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if item.timed)


def vary(base: Image.Image, variant: int) -> Image.Image:
    """A different photo from the same rendered scene, cheaply.

    Rendering a landscape is the slow part, so variants shift the scene (wrapping
    round, which adds a hard seam), draw hard-edged rectangles at variant-dependent
    places and blend in fresh grain of variant-dependent strength. Pillow's noise comes
    from the C library's rand(), never seeded: the same sequence in every process, so
    the corpus is the same from run to run as long as it is generated in the same order.
    """
    width, height = base.size
    chooser = random.Random(variant)
    image = ImageChops.offset(base, (variant * 97) % (width // 3), (variant * 41) % (height // 5))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        w, h = chooser.randint(width // 20, width // 6), chooser.randint(height // 20, height // 6)
        x, y = chooser.randint(0, width - w), chooser.randint(0, height - h)
        fill = (chooser.randint(0, 255), chooser.randint(0, 255), chooser.randint(0, 255))
        draw.rectangle([x, y, x + w, y + h], fill=fill, outline=(250, 250, 250), width=max(1, width // 500))
    grain = Image.effect_noise((width, height), 20 + 3 * (variant % 5)).convert("RGB")
    return Image.blend(image, grain, _GRAIN_WEIGHT)


def photo(width: int, height: int, variant: int = 0) -> Image.Image:
    """A photo-like RGB image: landscape light, hard edges, grain."""
    return vary(landscape(width, height), variant)


def with_vignette_alpha(image: Image.Image) -> Image.Image:
    """RGBA with a soft elliptical alpha: opaque centre, transparent corners, every level in between."""
    distance = Image.radial_gradient("L").resize(image.size, Image.Resampling.BILINEAR)  # 0 centre .. 255 edge
    alpha = distance.point(lambda d: 255 if d < 100 else max(0, 255 - (d - 100) * 2))
    rgba = image.convert("RGBA")
    rgba.putalpha(alpha)
    return rgba


def encode(image: Image.Image, kind: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def exif_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = value
    return exif


def sideways(image: Image.Image) -> Image.Image:
    """Stored as a camera held upright writes it: orientation 6 turns it back clockwise for display."""
    return image.transpose(Image.Transpose.ROTATE_90)


def animated_gif(base: Image.Image, frames: int) -> bytes:
    pictures = [vary(base, frame) for frame in range(frames)]
    return encode(pictures[0], "GIF", save_all=True, append_images=pictures[1:], duration=100, loop=0)


def throughput_set(base: Image.Image, count: int) -> tuple[bytes, ...]:
    """``count`` different baseline JPEGs of ``base``'s size."""
    return tuple(encode(vary(base, variant), "JPEG", quality=90) for variant in range(count))


def heic(image: Image.Image) -> bytes:
    """HEIC as a phone writes it, encoded with pillow-heif (libheif with x265, in its wheel)."""
    import pillow_heif

    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=90)
    return buffer.getvalue()


def _batch(folder: Path, name: str, extension: str, images: list[bytes]) -> Batch:
    where = folder / f"batch-{name.lower()}"
    where.mkdir()
    paths = []
    for index, data in enumerate(images):
        path = where / f"{index:02d}.{extension}"
        path.write_bytes(data)
        paths.append(path)
    return Batch(name, tuple(paths))


def batches(folder: Path, scene12: Image.Image, jpegs: tuple[bytes, ...], *, quick: bool) -> tuple[Batch, ...]:
    """24 different 12 MP JPEGs, 6 RGBA PNGs and 6 WebPs (4, 2 and 2 with ``quick``)."""
    count = 2 if quick else 6
    pngs = [encode(with_vignette_alpha(vary(scene12, 20 + index)), "PNG") for index in range(count)]
    webps = [encode(vary(scene12, 30 + index), "WEBP", quality=90) for index in range(count)]
    return (
        _batch(folder, "JPEG", "jpeg", list(jpegs[: 4 if quick else 24])),
        _batch(folder, "PNG", "png", pngs),
        _batch(folder, "WebP", "webp", webps),
    )


def build(folder: Path, *, quick: bool, throughput_count: int) -> Corpus:
    """Every item, in report order, written to ``folder``; ``quick``: 1 and 12 MP JPEG and PNG only."""
    items: list[Item] = []
    unsupported: list[Unsupported] = []

    def add(name: str, kind: str, data: bytes, *, timed: bool = True, group: str | None = None) -> None:
        path = folder / f"{len(items):02d}.{kind.lower()}"
        path.write_bytes(data)
        items.append(Item(name, kind, data, path, timed, group))
        logger.info("corpus: %s, %.1f MB", name, len(data) / 1e6)

    # Rendering a scene is the slow part: one per size, varied per item (see vary).
    scene12 = landscape(*MP12)
    add("JPEG 1 MP", "JPEG", encode(photo(*MP1), "JPEG", quality=90), group=BASELINE_JPEG)
    add("JPEG 12 MP", "JPEG", encode(vary(scene12, 0), "JPEG", quality=90), group=BASELINE_JPEG)
    rgba12 = encode(with_vignette_alpha(vary(scene12, 5)), "PNG")
    jpegs = throughput_set(scene12, max(throughput_count, 4 if quick else 24))
    tiny = folder / "tiny.jpeg"
    tiny.write_bytes(encode(photo(64, 48), "JPEG", quality=90))
    if quick:
        add("PNG 12 MP RGBA", "PNG", rgba12, group=LIBVIPS_PARITY)
        return Corpus(tuple(items), (), jpegs[:throughput_count], batches(folder, scene12, jpegs, quick=True), tiny)

    scene24 = landscape(*MP24)
    add("JPEG 24 MP", "JPEG", encode(vary(scene24, 0), "JPEG", quality=90), group=BASELINE_JPEG)
    progressive = encode(vary(scene12, 1), "JPEG", quality=90, progressive=True)
    add("JPEG 12 MP progressive", "JPEG", progressive, group=LIBVIPS_PARITY)
    rotated = encode(sideways(vary(scene12, 2)), "JPEG", quality=90, exif=exif_orientation(6))
    add("JPEG 12 MP, EXIF orientation 6", "JPEG", rotated)
    add("JPEG 12 MP CMYK", "JPEG", encode(vary(scene12, 3).convert("CMYK"), "JPEG", quality=90))
    add("PNG 12 MP RGBA", "PNG", rgba12, group=LIBVIPS_PARITY)
    add("WebP 12 MP", "WEBP", encode(vary(scene12, 6), "WEBP", quality=90), group=LIBVIPS_PARITY)
    avif = features.check("avif")
    if avif:
        # speed=8 keeps generation to seconds; the decoder's work does not depend on it.
        add("AVIF 12 MP", "AVIF", encode(vary(scene12, 7), "AVIF", quality=80, speed=8), group=LIBVIPS_PARITY)
    else:
        unsupported.append(Unsupported("AVIF 12 MP", "not supported (this Pillow has no AVIF codec)"))
    add(f"GIF {GIF_SIZE[0]}x{GIF_SIZE[1]}, {GIF_FRAMES} frames", "GIF", animated_gif(landscape(*GIF_SIZE), GIF_FRAMES))
    add("HEIC 12 MP", "HEIF", heic(vary(scene12, 8)))

    # Memory check only: the largest inputs of the formats that cannot be shrunk on decode.
    add("PNG 24 MP RGBA", "PNG", encode(with_vignette_alpha(vary(scene24, 5)), "PNG"), timed=False)
    add("WebP 24 MP", "WEBP", encode(vary(scene24, 6), "WEBP", quality=90), timed=False)
    if avif:
        add("AVIF 24 MP", "AVIF", encode(vary(scene24, 7), "AVIF", quality=80, speed=8), timed=False)
    return Corpus(
        tuple(items), tuple(unsupported), jpegs[:throughput_count], batches(folder, scene12, jpegs, quick=False), tiny
    )
