"""The pure imaging core: image bytes and settings in, thumbnail bytes out.

It never touches Cloud Storage. One decode serves every configured size: the source
is identified by content, checked against the pixel limit before any pixel is
decoded, shrunk while decoding where that is possible (JPEG DCT scaling in Pillow;
PNG and WebP through libvips, see libvips.py), always keeping headroom, resampled
once with Lanczos, then oriented, converted to sRGB and encoded without metadata.
Orientation, colour conversion and alpha checks run on the small image, where they
cost next to nothing.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageSequence, UnidentifiedImageError

from thumbnailer import errors
from thumbnailer.config import Animation, Color, ImagingSettings, OutputFormat, Size
from thumbnailer.geometry import Plan, plan_thumbnail, shrunk_decode_size

#: Formats accepted as input, identified by content. Pillow is told to try only
#: these, so no other decoder (EPS, PSD, ...) ever sees untrusted bytes.
INPUT_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF")
# HEIC/HEIF (phone cameras) is read by pillow-heif, whose import costs 50 ms: it is
# loaded when a file's ISO-BMFF "ftyp" box names an HEIF brand, not at cold start.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})

# Output encodings: Pillow format name, file extension, content type.
_ENCODINGS: dict[str, tuple[str, str, str]] = {
    "jpeg": ("JPEG", "jpg", "image/jpeg"),
    "png": ("PNG", "png", "image/png"),
    "webp": ("WEBP", "webp", "image/webp"),
    "avif": ("AVIF", "avif", "image/avif"),
    "gif": ("GIF", "gif", "image/gif"),
}
#: Every extension a thumbnail can have (backfill looks for any of them).
OUTPUT_EXTENSIONS: tuple[str, ...] = tuple(sorted({extension for _, extension, _ in _ENCODINGS.values()}))
# `original` keeps these input formats; any other input falls back to `auto`.
# MPO is a JPEG with extra pictures (phone cameras); Pillow opens it with its JPEG plugin.
_ORIGINAL_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "AVIF": "avif"}
_JPEG_FORMATS = ("JPEG", "MPO")

#: Source formats that libvips decodes, shrinking as it goes; Pillow decodes the rest.
#: Chosen by measurement (bench/RESULTS.md): libvips is faster and far leaner for PNG
#: and WebP; Pillow wins for JPEG (DCT scaling) and AVIF (its decoder is the faster).
LIBVIPS_FORMATS: frozenset[str] = frozenset({"PNG", "WEBP"})

# EXIF orientation -> the transpose that displays the image upright.
_ORIENTATION_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION = 0x0112
_CREDIT_TAGS = (0x013B, 0x8298)  # Artist, Copyright
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Which ICC colour spaces can describe which working modes.
_PROFILE_SPACES = {"RGB": "RGB ", "RGBA": "RGB ", "L": "GRAY", "CMYK": "CMYK"}


@dataclass(frozen=True)
class Thumbnail:
    width: int
    height: int
    format: str  # key of _ENCODINGS, e.g. "jpeg"
    extension: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Rendering:
    source_format: str
    source_width: int
    source_height: int
    thumbnails: tuple[Thumbnail, ...]  # one per settings.sizes, same order


def check_input_size(size: int, settings: ImagingSettings) -> None:
    """Refuse empty and over-large inputs before reading them."""
    if size == 0:
        raise errors.EmptyObject("the object is empty (0 bytes)")
    if size > settings.max_input_bytes:
        raise errors.InputTooLarge(f"{size} bytes is over the {settings.max_input_bytes}-byte limit (MAX_INPUT_BYTES)")


def render_thumbnails(
    data: bytes, settings: ImagingSettings, *, libvips_formats: frozenset[str] = LIBVIPS_FORMATS
) -> Rendering:
    """Make one thumbnail per configured size from encoded image ``data``.

    ``libvips_formats`` picks the decoder per source format; the benchmark and tests
    pass an empty set to compare with Pillow decoding everything.
    """
    check_input_size(len(data), settings)
    with _open(data, settings) as image:
        return _render(data, image, settings, libvips_formats)


@contextlib.contextmanager
def _decoding() -> Iterator[None]:
    """Map whatever Pillow raises on bad data (OSError, SyntaxError, struct.error...) to CorruptImage.

    Only header parsing and decoding run inside; a failure while resizing or encoding a
    decoded image is a bug, and is left to surface as one.
    """
    try:
        yield
    except errors.ThumbnailerError:
        raise
    except Image.DecompressionBombError as error:
        raise errors.TooManyPixels(str(error)) from None
    except UnidentifiedImageError:
        raise errors.NotAnImage(
            f"not an image in a supported format ({', '.join(INPUT_FORMATS)}), judged by its content"
        ) from None
    except MemoryError:
        raise errors.OutOfMemory("out of memory while decoding") from None
    except Exception as error:
        raise errors.CorruptImage(f"cannot decode the image: {error}") from None


def _formats_for(data: bytes) -> tuple[str, ...]:
    """The decoders to try: HEIF only for HEIF brands (Pillow refuses an unregistered name)."""
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        import pillow_heif

        # pillow-heif applies the container's rotation and mirroring and resets the EXIF
        # orientation to 1, so the pixels it gives are upright already.
        pillow_heif.register_heif_opener()
        return INPUT_FORMATS
    return tuple(name for name in INPUT_FORMATS if name != "HEIF")


def _open(data: bytes, settings: ImagingSettings) -> Image.Image:
    with warnings.catch_warnings():
        # Our own pixel limit below is the check; Pillow's warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with _decoding():
            image = Image.open(io.BytesIO(data), formats=_formats_for(data))
    width, height = image.size
    if width * height > settings.max_input_pixels:
        image.close()
        raise errors.TooManyPixels(
            f"{width}x{height} is {width * height} pixels, over the {settings.max_input_pixels}-pixel limit "
            "(MAX_INPUT_PIXELS)"
        )
    return image


def _read_exif(image: Image.Image) -> Image.Exif:
    """The source's EXIF, or an empty one: corrupt EXIF must not cost the thumbnail."""
    try:
        if image.format == "PNG":
            # Pillow's PNG getexif() decodes every pixel to look for an eXIf chunk after
            # them; only one before the pixels counts here (as in browsers), which is free.
            exif = Image.Exif()
            exif.load(image.info.get("exif", b""))
            return exif
        return image.getexif()
    except Exception:
        return Image.Exif()


def _read_orientation(exif: Image.Exif) -> int:
    try:
        value = exif.get(_EXIF_ORIENTATION, 1)
    except Exception:  # show the image as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _credits(exif: Image.Exif) -> bytes | None:
    """KEEP_EXIF_CREDITS: only the author and copyright travel, never GPS or the camera."""
    kept = Image.Exif()
    for tag in _CREDIT_TAGS:
        try:
            value = exif.get(tag)
        except Exception:
            continue
        if isinstance(value, str) and value.strip():
            kept[tag] = value
    return kept.tobytes() if len(kept) else None


def _render(data: bytes, image: Image.Image, settings: ImagingSettings, libvips_formats: frozenset[str]) -> Rendering:
    source_format = str(image.format)
    stored_width, stored_height = image.size
    exif = _read_exif(image)
    # Pillow already turns TIFFs upright on load (and reports the upright size).
    orientation = 1 if source_format == "TIFF" else _read_orientation(exif)
    credits = _credits(exif) if settings.keep_exif_credits else None
    swapped = orientation >= 5
    oriented_width, oriented_height = (stored_height, stored_width) if swapped else (stored_width, stored_height)
    sizes = settings.sizes
    plans = [plan_thumbnail(oriented_width, oriented_height, size, settings.mode_for(size)) for size in sizes]
    if swapped:
        plans = [plan.transposed() for plan in plans]

    # (An animation stored sideways, which nothing writes, is thumbnailed as a still.)
    animated = [_animation_format(image, source_format, settings, size) if orientation == 1 else None for size in sizes]
    # Every output frame of every size is held until encoding: count those pixels too.
    frames = int(getattr(image, "n_frames", 1))
    outputs = sum(plan.canvas[0] * plan.canvas[1] for plan in plans)
    if frames * (image.width * image.height + outputs) > settings.max_animation_pixels:
        animated = [None] * len(sizes)
    if any(animated):
        thumbnails = _render_animation(image, plans, animated, source_format, settings, credits)
        return Rendering(source_format, oriented_width, oriented_height, thumbnails)

    icc_profile = image.info.get("icc_profile")
    request = shrunk_decode_size(stored_width, stored_height, plans)
    decoded = image
    if request is not None and source_format in _JPEG_FORMATS:
        with _decoding():
            image.draft(image.mode, request)  # the smallest DCT scale at least this big
    elif request is not None and source_format in libvips_formats:
        decoded, icc_profile = _decode_with_libvips(data, request)
    if decoded.size != (stored_width, stored_height):
        plans = [plan.scaled_source(stored_width, stored_height, *decoded.size) for plan in plans]

    with _decoding():
        working = _to_working_mode(decoded)
    thumbnails = tuple(
        _make_one(working, size, plan, orientation, icc_profile, source_format, settings, credits)
        for size, plan in zip(sizes, plans, strict=True)
    )
    return Rendering(source_format, oriented_width, oriented_height, thumbnails)


def _animation_format(image: Image.Image, source_format: str, settings: ImagingSettings, size: Size) -> str | None:
    """The format of an animated thumbnail of this size, or None for a still one (first frame)."""
    if settings.animation is not Animation.ANIMATE or source_format not in ("GIF", "WEBP"):
        return None
    frames = int(getattr(image, "n_frames", 1))
    if frames < 2 or frames > settings.max_animation_frames:
        return None
    output_format = settings.format_for(size)
    if output_format is OutputFormat.ORIGINAL:
        return "gif" if source_format == "GIF" else "webp"
    if output_format in (OutputFormat.AUTO, OutputFormat.WEBP):
        return "webp"  # smaller than GIF, full colour and alpha, animated everywhere
    return None  # JPEG, PNG, AVIF: a still thumbnail


def _render_animation(
    image: Image.Image,
    plans: list[Plan],
    formats: list[str | None],
    source_format: str,
    settings: ImagingSettings,
    credits: bytes | None,
) -> tuple[Thumbnail, ...]:
    """Every frame through the same geometry; durations and loop count kept. A size
    whose format cannot animate gets the first frame, as a still."""
    per_plan: list[list[Image.Image]] = [[] for _ in plans]
    durations: list[int] = []
    with _decoding():
        for frame in ImageSequence.Iterator(image):
            rgba = frame.convert("RGBA")
            durations.append(int(frame.info.get("duration", 100)))  # WebP sets it once the frame is decoded
            for frames, plan in zip(per_plan, plans, strict=True):
                small = rgba.resize(plan.size, Image.Resampling.LANCZOS, box=plan.box)
                frames.append(_pad(small, plan.canvas, settings.background) if plan.canvas != small.size else small)
    thumbnails = []
    for size, frames, output_format in zip(settings.sizes, per_plan, formats, strict=True):
        if output_format is None:
            still = _drop_opaque_alpha(frames[0])
            chosen = _choose_format(settings.format_for(size), source_format, has_alpha=still.mode == "RGBA")
            thumbnails.append(_encode(still, chosen, settings, credits, settings.quality_for(size)))
            continue
        # No loop count in a GIF means "play once"; WebP says that with 1.
        loop = image.info.get("loop", 1 if output_format == "webp" else None)
        thumbnails.append(
            _encode_animation(frames, durations, loop, output_format, settings.quality_for(size), credits)
        )
    return tuple(thumbnails)


def _encode_animation(
    frames: list[Image.Image],
    durations: list[int],
    loop: int | None,
    output_format: str,
    quality: int,
    credits: bytes | None,
) -> Thumbnail:
    pillow_format, extension, content_type = _ENCODINGS[output_format]
    options: dict[str, object] = {"save_all": True, "append_images": frames[1:], "duration": durations}
    if loop is not None:
        options["loop"] = loop
    if output_format == "webp":
        options["quality"] = quality
        if credits:
            options["exif"] = credits  # GIF has no place for EXIF
    else:
        options["disposal"] = 2  # each frame replaces the last: no ghosts where frames are transparent
    buffer = io.BytesIO()
    frames[0].save(buffer, pillow_format, **options)
    first = frames[0]
    return Thumbnail(first.width, first.height, output_format, extension, content_type, buffer.getvalue())


def _decode_with_libvips(data: bytes, size: tuple[int, int]) -> tuple[Image.Image, bytes | None]:
    from thumbnailer import libvips  # loads libvips: only when such a format arrives

    try:
        return libvips.decode_shrunk(data, *size)
    except libvips.DecodeError as error:
        raise errors.CorruptImage(f"cannot decode the image: {error}") from None
    except MemoryError:
        raise errors.OutOfMemory("out of memory while decoding") from None


def _to_working_mode(image: Image.Image) -> Image.Image:
    """Decode and bring any mode to one Lanczos can resample: L, RGB, RGBA, CMYK or I (16-bit)."""
    mode = image.mode
    if mode in ("L", "RGB") and "transparency" in image.info:
        return image.convert("RGBA")  # a colour-key transparent PNG (tRNS chunk)
    if mode in ("L", "RGB", "RGBA", "CMYK", "I"):
        image.load()
        return image
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16"):
        return image.convert("I")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode in ("LA", "La", "RGBa", "RGBX"):
        return image.convert("RGBA" if mode != "RGBX" else "RGB")
    try:
        return image.convert("RGB")  # YCbCr, LAB, HSV, F...
    except ValueError:
        raise errors.UnsupportedImage(f"unsupported pixel mode {mode}") from None


def _make_one(
    working: Image.Image,
    size: Size,
    plan: Plan,
    orientation: int,
    icc_profile: bytes | None,
    source_format: str,
    settings: ImagingSettings,
    credits: bytes | None,
) -> Thumbnail:
    small = working.resize(plan.size, Image.Resampling.LANCZOS, box=plan.box)
    if orientation in _ORIENTATION_TRANSPOSE:
        small = small.transpose(_ORIENTATION_TRANSPOSE[orientation])
    small = _to_srgb(small, icc_profile)
    small = _drop_opaque_alpha(small)
    if plan.canvas != small.size:
        small = _pad(small, plan.canvas, settings.background)
        small = _drop_opaque_alpha(small)
    output_format = _choose_format(settings.format_for(size), source_format, has_alpha=small.mode == "RGBA")
    return _encode(small, output_format, settings, credits, settings.quality_for(size))


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    if image.mode == "I":
        # 16-bit samples: scale 0..65535 to 0..255 (a plain convert would clip to white).
        image = image.point(lambda value: value * (1 / 257)).convert("L")
    if icc_profile:
        converted = _apply_profile(image, icc_profile)
        if converted is not None:
            return converted
    if image.mode == "CMYK":
        return image.convert("RGB")
    return image


def _apply_profile(image: Image.Image, icc_profile: bytes) -> Image.Image | None:
    """Convert through the embedded profile to sRGB; None if it is unusable or already sRGB."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if profile.profile.xcolor_space != _PROFILE_SPACES.get(image.mode):
            return None
        if (profile.profile.profile_description or "").startswith("sRGB"):
            return None
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(
            image, profile, _SRGB, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode=output_mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken profile must not cost the thumbnail: treat the pixels as sRGB


def _drop_opaque_alpha(image: Image.Image) -> Image.Image:
    if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255:
        return image.convert("RGB")
    return image


def _pad(image: Image.Image, canvas: tuple[int, int], background: Color) -> Image.Image:
    mode = "RGBA" if image.mode == "RGBA" or background[3] < 255 else "RGB"
    padded = Image.new(mode, canvas, background if mode == "RGBA" else background[:3])
    offset = ((canvas[0] - image.width) // 2, (canvas[1] - image.height) // 2)
    padded.paste(image.convert(mode), offset)
    return padded


def _flatten(image: Image.Image, background: Color) -> Image.Image:
    """Composite transparency onto the background: transparent areas never come out black."""
    base = Image.new("RGBA", image.size, (*background[:3], 255))
    return Image.alpha_composite(base, image).convert("RGB")


def _choose_format(setting: OutputFormat, source_format: str, *, has_alpha: bool) -> str:
    if setting is OutputFormat.ORIGINAL:
        original = _ORIGINAL_FORMATS.get(source_format)
        if original is not None:
            return original
    if setting in (OutputFormat.AUTO, OutputFormat.ORIGINAL):
        return "webp" if has_alpha else "jpeg"
    return setting.value


def _encode(
    image: Image.Image, output_format: str, settings: ImagingSettings, credits: bytes | None, quality: int
) -> Thumbnail:
    pillow_format, extension, content_type = _ENCODINGS[output_format]
    if output_format == "jpeg" and image.mode == "RGBA":
        image = _flatten(image, settings.background)
    # A fresh info dict: no EXIF, GPS, XMP or ICC profile travels to the thumbnail, only
    # the credits when asked for (and the format can carry EXIF).
    image.info = {}
    options = _encoder_options(output_format, quality)
    if credits and output_format in ("jpeg", "webp", "png", "avif"):
        options["exif"] = credits
    buffer = io.BytesIO()
    image.save(buffer, pillow_format, **options)
    return Thumbnail(image.width, image.height, output_format, extension, content_type, buffer.getvalue())


def _encoder_options(output_format: str, quality: int) -> dict[str, object]:
    if output_format == "jpeg":
        return {"quality": quality, "optimize": True}
    if output_format in ("webp", "avif"):
        return {"quality": quality}
    if output_format == "png":
        return {"optimize": False, "compress_level": 6}
    return {}
