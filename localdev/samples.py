"""Sample uploads for the local pipeline, drawn here so nothing is downloaded or committed.

Four files show the main behaviours in the gallery: a landscape photo cropped to the
centre, a photo stored sideways with an EXIF orientation, a transparent PNG, and a
file that is not an image (its failure and reason appear too).
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFilter


def landscape(width: int, height: int) -> Image.Image:
    """Sky gradient, a sun, layered hills and some texture: photo-like, not noise."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=(int(40 + 200 * t), int(90 + 90 * t), int(200 - 60 * t)))
    sun = (int(width * 0.7), int(height * 0.35))
    radius = height // 9
    draw.ellipse([sun[0] - radius, sun[1] - radius, sun[0] + radius, sun[1] + radius], fill=(255, 226, 140))
    for layer, colour in enumerate([(70, 120, 80), (45, 95, 60), (25, 65, 40)]):
        base = height * (0.55 + 0.15 * layer)
        points = [(0, height)]
        for x in range(0, width + 1, max(1, width // 80)):
            wave = math.sin(x / width * (3 + layer) * math.pi + layer) * height * 0.06
            points.append((x, int(base + wave)))
        points.append((width, height))
        draw.polygon(points, fill=colour)
    return image.filter(ImageFilter.SMOOTH_MORE)


def _encode(image: Image.Image, kind: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def sample_files() -> dict[str, tuple[bytes, str]]:
    """Object name -> (bytes, content type)."""
    scene = landscape(1600, 1000)
    # Stored sideways, displayed upright: orientation 6 means "rotate 90° clockwise to view".
    sideways = landscape(900, 1400).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    logo = Image.new("RGBA", (800, 600), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    draw.ellipse([100, 50, 700, 550], fill=(220, 60, 60, 255), outline=(255, 255, 255, 255), width=12)
    draw.rectangle([300, 250, 500, 350], fill=(255, 255, 255, 200))
    return {
        "samples/landscape.jpg": (_encode(scene, "JPEG", quality=90), "image/jpeg"),
        "samples/portrait-exif-rotated.jpg": (_encode(sideways, "JPEG", quality=90, exif=exif), "image/jpeg"),
        "samples/transparent-logo.png": (_encode(logo, "PNG"), "image/png"),
        "samples/not-an-image.jpg": (b"This is a text file with a .jpg name.\n", "image/jpeg"),
    }
