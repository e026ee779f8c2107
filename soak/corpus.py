"""The soak's uploads, generated: mixed formats and sizes, about 10% bad files, some overwrites.

Every valid upload has different pixels (a numbered mark drawn on a shared base image),
so a thumbnail made from the wrong upload would be caught. Each bad file carries the
failure reason the function must record for it. A share of names is uploaded twice:
the second generation, with other pixels, must be the one whose thumbnail survives.
"""

from __future__ import annotations

import functools
import io
import random
from collections.abc import Callable
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageDraw

from tests.images import encode, jpeg_claiming, photo_like, png_bomb, svg_referencing


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes
    content_type: str
    kind: str
    expected_reason: str | None = None  # None: a valid image; else the failure record's reason

    @property
    def valid(self) -> bool:
        return self.expected_reason is None


@functools.cache
def _base(width: int, height: int) -> Image.Image:
    return photo_like(width, height, seed=width % 7)


def _marked(width: int, height: int, number: int) -> Image.Image:
    """The base image with a mark of its own: a bar whose place and colour encode ``number``."""
    image = _base(width, height).copy()
    chooser = random.Random(number)
    w, h = max(1, width // 4), max(1, height // 4)
    x, y = chooser.randint(0, width - w), chooser.randint(0, height - h)
    colour = (chooser.randint(0, 255), chooser.randint(0, 255), chooser.randint(0, 255))
    ImageDraw.Draw(image).rectangle((x, y, x + w - 1, y + h - 1), fill=colour)
    return image


def _animated_gif(number: int) -> bytes:
    frames = [_marked(320, 240, number * 10 + frame) for frame in range(4)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)


def _heic(number: int) -> bytes:
    heif = pillow_heif.from_pillow(_marked(800, 600, number))
    buffer = io.BytesIO()
    heif.save(buffer, quality=80)
    return buffer.getvalue()


def _rgba_png(number: int) -> bytes:
    image = _marked(1000, 750, number).convert("RGBA")
    alpha = Image.new("L", image.size, 255)
    ImageDraw.Draw(alpha).ellipse((0, 0, image.width // 3, image.height // 3), fill=0)
    image.putalpha(alpha)
    return encode(image, "PNG")


Maker = Callable[[int], bytes]

# name suffix, content type, weight, maker. Sizes and formats as users upload them:
# mostly phone/web-sized JPEGs, a few 12 MP photos, the other formats the function reads.
VALID_KINDS: dict[str, tuple[str, str, float, Maker]] = {
    "jpeg": (".jpg", "image/jpeg", 0.44, lambda n: encode(_marked(1024, 768, n), "JPEG", quality=88)),
    "jpeg-small": (".jpeg", "image/jpeg", 0.10, lambda n: encode(_marked(480, 640, n), "JPEG", quality=85)),
    "jpeg-12mp": (".jpg", "image/jpeg", 0.03, lambda n: encode(_marked(4000, 3000, n), "JPEG", quality=90)),
    "png-rgba": (".png", "image/png", 0.08, _rgba_png),
    "webp": (".webp", "image/webp", 0.07, lambda n: encode(_marked(1200, 900, n), "WEBP", quality=85)),
    "gif-animated": (".gif", "image/gif", 0.04, _animated_gif),
    "bmp": (".bmp", "image/bmp", 0.03, lambda n: encode(_marked(640, 480, n), "BMP")),
    "tiff": (".tif", "image/tiff", 0.03, lambda n: encode(_marked(800, 600, n), "TIFF")),
    "avif": (".avif", "image/avif", 0.03, lambda n: encode(_marked(800, 600, n), "AVIF", quality=60)),
    "heic": (".heic", "image/heic", 0.03, _heic),
    "tall-strip": (".png", "image/png", 0.01, lambda n: encode(_marked(1, 2000 + n, n), "PNG")),
    "one-pixel": (".png", "image/png", 0.01, lambda n: encode(Image.new("RGB", (1, 1), (n % 256, 9, 9)), "PNG")),
}


def _truncated(image_format: str) -> Maker:
    def make(number: int) -> bytes:
        whole = encode(_marked(640, 480, number), image_format)
        return whole[: len(whole) // 3]

    return make


# name suffix, content type, failure reason, maker.
BAD_KINDS: dict[str, tuple[str, str, str, Maker]] = {
    "empty": (".jpg", "image/jpeg", "empty_object", lambda n: b""),
    "text": (".jpg", "image/jpeg", "not_an_image", lambda n: f"upload {n} is a text file\n".encode() * 20),
    "truncated-jpeg": (".jpg", "image/jpeg", "corrupt_image", _truncated("JPEG")),
    "truncated-png": (".png", "image/png", "corrupt_image", _truncated("PNG")),
    "png-bomb": (".png", "image/png", "too_many_pixels", lambda n: png_bomb()),
    "jpeg-65000": (".jpg", "image/jpeg", "too_many_pixels", lambda n: jpeg_claiming(65000, 65000)),
    "svg": (
        ".svg",
        "image/svg+xml",
        "not_an_image",
        lambda n: svg_referencing(f"http://127.0.0.1:9/{n}/"),
    ),
}


def build(count: int, *, bad_share: float = 0.1, overwrite_share: float = 0.05, seed: int = 7) -> tuple[Upload, ...]:
    """``count`` uploads in upload order; overwrites (new generations of earlier names) come on top."""
    chooser = random.Random(seed)
    bad_count = round(count * bad_share)
    bad_at = set(chooser.sample(range(count), bad_count))
    valid_names, valid_weights = list(VALID_KINDS), [kind[2] for kind in VALID_KINDS.values()]
    uploads: list[Upload] = []
    bad_kinds = list(BAD_KINDS)
    for number in range(count):
        if number in bad_at:
            kind = bad_kinds[len([u for u in uploads if not u.valid]) % len(bad_kinds)]
            suffix, content_type, reason, make = BAD_KINDS[kind]
            uploads.append(Upload(f"soak/{number:05d}-{kind}{suffix}", make(number), content_type, kind, reason))
            continue
        kind = chooser.choices(valid_names, valid_weights)[0]
        suffix, content_type, _, maker = VALID_KINDS[kind]
        folder = "soak/ünïcode/" if number % 50 == 7 else "soak/"  # some non-ASCII names, some folders
        uploads.append(Upload(f"{folder}{number:05d}-{kind}{suffix}", maker(number), content_type, kind))
    # Overwrites, each soon after its first generation: same kind (so the same thumbnail
    # names), other pixels.
    candidates = [index for index, upload in enumerate(uploads) if upload.valid and upload.kind != "jpeg-12mp"]
    for index in sorted(chooser.sample(candidates, round(len(candidates) * overwrite_share)), reverse=True):
        first = uploads[index]
        maker = VALID_KINDS[first.kind][3]
        again = Upload(first.name, maker(count + index), first.content_type, first.kind)
        uploads.insert(min(len(uploads), index + chooser.randint(1, 8)), again)
    return tuple(uploads)
