"""The pure imaging core: image bytes and settings in, thumbnail bytes out.

It never touches Cloud Storage. One decode serves every configured size: the source is
opened by decoding.py (the one boundary around the untrusted bytes), checked against
the pixel limit before any pixel is decoded, shrunk while decoding where that is
possible (JPEG DCT scaling in Pillow; PNG and WebP through libvips), always keeping
headroom, then resampled once with Lanczos, oriented, converted to sRGB and encoded
without metadata. Orientation, colour conversion and alpha checks run on the small
image, where they cost next to nothing. Everything here works on decoded pixels only.
"""

import io
from typing import TYPE_CHECKING, NamedTuple

from PIL import Image

from thumbnailer import diagnostics, errors
from thumbnailer.config import ImagingSettings
from thumbnailer.decoding import LIBVIPS_FORMATS, Pixels, Source, opened
from thumbnailer.domain import Animation, Color, FitMode, OutputFormat, Size
from thumbnailer.geometry import Plan, plan_thumbnail, shrunk_decode_size

if TYPE_CHECKING:
    from PIL import ImageCms

# Output encodings: file extension (which also picks Pillow's encoder, see _saved), content type.
_ENCODINGS: dict[str, tuple[str, str]] = {
    "jpeg": ("jpg", "image/jpeg"),
    "png": ("png", "image/png"),
    "webp": ("webp", "image/webp"),
    "avif": ("avif", "image/avif"),
    "gif": ("gif", "image/gif"),
}
#: Every extension a thumbnail can have (backfill looks for any of them).
OUTPUT_EXTENSIONS: tuple[str, ...] = tuple(sorted({extension for extension, _ in _ENCODINGS.values()}))


def possible_extensions(output_format: OutputFormat) -> tuple[str, ...]:
    """The extensions a thumbnail made under ``output_format`` can have, whatever the source."""
    if output_format is OutputFormat.AUTO:
        return ("jpg", "webp")  # opaque, transparent (animations are WebP too)
    if output_format is OutputFormat.ORIGINAL:
        return OUTPUT_EXTENSIONS
    return (_ENCODINGS[output_format.value][0],)


# `original` keeps these input formats; any other input falls back to `auto`.
# MPO is a JPEG with extra pictures (phone cameras); Pillow opens it with its JPEG plugin.
_ORIGINAL_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "AVIF": "avif"}

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


class Thumbnail(NamedTuple):
    width: int
    height: int
    format: str  # key of _ENCODINGS, e.g. "jpeg"
    extension: str
    content_type: str
    data: bytes
    thumbhash: str  # base64 ThumbHash of what is shown (an animation's first frame)
    color: str  # its dominant colour, #rrggbb


class Rendering(NamedTuple):
    source_format: str
    source_width: int
    source_height: int
    thumbnails: tuple[Thumbnail, ...]  # one per settings.sizes, same order
    #: What the decoders said about the file (damage they read past), bounded.
    warnings: tuple[str, ...] = ()
    #: A JPEG of the image, upright, its long side at most ``analysis_side`` (None when
    #: not asked for): what Cloud Vision is sent, made from the same decode.
    analysis: bytes | None = None


def check_input_size(size: int, settings: ImagingSettings) -> None:
    """Refuse empty and over-large inputs before reading them."""
    if size == 0:
        raise errors.EmptyObject("the object is empty (0 bytes)")
    if size > settings.max_input_bytes:
        raise errors.InputTooLarge(f"{size} bytes is over the {settings.max_input_bytes}-byte limit (MAX_INPUT_BYTES)")


def render_thumbnails(
    data: bytes,
    settings: ImagingSettings,
    *,
    analysis_side: int | None = None,
    libvips_formats: frozenset[str] = LIBVIPS_FORMATS,
) -> Rendering:
    """Make one thumbnail per configured size from encoded image ``data``.

    ``analysis_side``: also make ``Rendering.analysis``, a copy for image analysis
    (Cloud Vision) with at most this long side, from the same decode. ``libvips_formats``
    picks the decoder per source format; the benchmark and tests pass an empty set to
    compare with Pillow decoding everything. What the decoders say about the file comes
    back in ``Rendering.warnings``, or the error's ``warnings``.
    """
    check_input_size(len(data), settings)
    with diagnostics.collecting() as collected:
        try:
            with opened(data, settings, libvips_formats) as source:
                rendering = _render(source, settings, analysis_side)
        except errors.ThumbnailerError as error:
            error.warnings = collected.messages()
            raise
    return rendering._replace(warnings=collected.messages())


def _render(source: Source, settings: ImagingSettings, analysis_side: int | None) -> Rendering:
    stored_width, stored_height = source.size
    orientation = source.orientation
    credits = source.credits() if settings.keep_exif_credits else None
    swapped = orientation >= 5
    oriented_width, oriented_height = (stored_height, stored_width) if swapped else (stored_width, stored_height)
    sizes = settings.sizes
    plans = [plan_thumbnail(oriented_width, oriented_height, size, settings.mode_for(size)) for size in sizes]
    if swapped:
        plans = [plan.transposed() for plan in plans]
    # The analysis copy needs no headroom: it is looked at, not resampled again.
    analysis_plan = None
    if analysis_side is not None:
        analysis_plan = plan_thumbnail(stored_width, stored_height, Size(analysis_side, analysis_side), FitMode.CONTAIN)

    # (An animation stored sideways, which nothing writes, is thumbnailed as a still.)
    animated = [_animation_format(source, settings, size) if orientation == 1 else None for size in sizes]
    # Every output frame of every size is held until encoding: count those pixels too.
    outputs = sum(plan.canvas[0] * plan.canvas[1] for plan in plans)
    if source.frame_count * (stored_width * stored_height + outputs) > settings.max_animation_pixels:
        animated = [None] * len(sizes)
    if any(animated):
        thumbnails, first_frame = _render_animation(source, plans, animated, settings, credits)
        analysis = _analysis_copy(first_frame, analysis_plan, 1, None) if analysis_plan else None
        return Rendering(source.format, oriented_width, oriented_height, thumbnails, analysis=analysis)

    request = _larger(
        shrunk_decode_size(stored_width, stored_height, plans),
        shrunk_decode_size(stored_width, stored_height, [analysis_plan], headroom=1.0) if analysis_plan else (1, 1),
    )
    pixels = source.pixels(request)
    if pixels.image.size != source.size:
        plans = [plan.scaled_source(stored_width, stored_height, *pixels.image.size) for plan in plans]
        if analysis_plan:
            analysis_plan = analysis_plan.scaled_source(stored_width, stored_height, *pixels.image.size)
    plans = [
        _attention_crop(pixels.image, plan) if settings.mode_for(size) is FitMode.ATTENTION else plan
        for size, plan in zip(sizes, plans, strict=True)
    ]
    thumbnails = tuple(
        _make_one(pixels, size, plan, orientation, source.format, settings, credits)
        for size, plan in zip(sizes, plans, strict=True)
    )
    analysis = _analysis_copy(pixels.image, analysis_plan, orientation, pixels.colour) if analysis_plan else None
    return Rendering(source.format, oriented_width, oriented_height, thumbnails, analysis=analysis)


def _larger(first: tuple[int, int] | None, second: tuple[int, int] | None) -> tuple[int, int] | None:
    """The decode size that serves both requests (None: full size)."""
    if first is None or second is None:
        return None
    return (max(first[0], second[0]), max(first[1], second[1]))


def _attention_crop(image: Image.Image, plan: Plan) -> Plan:
    """The cover crop moved onto the most interesting region of the decoded pixels.

    An image where nothing stands out (libvips then answers its first pixel) keeps the
    centre crop, as ``cover``.
    """
    box_width, box_height = plan.box_size
    if box_width >= image.width - 0.5 and box_height >= image.height - 0.5:
        return plan  # the crop is the whole image: nowhere to move
    from thumbnailer import libvips  # loads libvips: only for attention crops

    width, height = max(1, round(box_width)), max(1, round(box_height))
    centre_x, centre_y = libvips.attention_centre(image, width, height)
    if (centre_x, centre_y) == (0, 0):
        return plan
    return plan.moved_to(centre_x - box_width / 2, centre_y - box_height / 2, image.width, image.height)


def _analysis_copy(
    image: Image.Image, plan: Plan, orientation: int, colour: "ImageCms.ImageCmsTransform | None"
) -> bytes:
    """What image analysis is sent: upright sRGB JPEG, transparency on white."""
    small = image.resize(plan.size, Image.Resampling.BILINEAR, box=plan.box, reducing_gap=2.0)
    if orientation in _ORIENTATION_TRANSPOSE:
        small = small.transpose(_ORIENTATION_TRANSPOSE[orientation])
    small = _to_srgb(small, colour)
    if small.mode in ("RGBA", "LA"):
        small = _flatten(small.convert("RGBA"), (255, 255, 255, 255))
    elif small.mode not in ("RGB", "L"):
        small = small.convert("RGB")
    small.info = {}
    return _saved(small, "jpg", {"quality": 85})


def _animation_format(source: Source, settings: ImagingSettings, size: Size) -> str | None:
    """The format of an animated thumbnail of this size, or None for a still one (first frame)."""
    if settings.animation is not Animation.ANIMATE or source.format not in ("GIF", "WEBP"):
        return None
    if source.frame_count < 2 or source.frame_count > settings.max_animation_frames:
        return None
    output_format = settings.format_for(size)
    if output_format is OutputFormat.ORIGINAL:
        return "gif" if source.format == "GIF" else "webp"
    if output_format in (OutputFormat.AUTO, OutputFormat.WEBP):
        return "webp"  # smaller than GIF, full colour and alpha, animated everywhere
    return None  # JPEG, PNG, AVIF: a still thumbnail


def _render_animation(
    source: Source,
    plans: list[Plan],
    formats: list[str | None],
    settings: ImagingSettings,
    credits: bytes | None,
) -> tuple[tuple[Thumbnail, ...], Image.Image]:
    """Every frame through the same geometry; durations and loop count kept. A size
    whose format cannot animate gets the first frame, as a still. Also returns the
    first frame, decoded."""
    per_plan: list[list[Image.Image]] = [[] for _ in plans]
    durations: list[int] = []
    first_frame: Image.Image | None = None
    for rgba, duration in source.frames():  # one decoded frame at a time; only the small ones are kept
        durations.append(duration)
        first_frame = first_frame or rgba
        for frames, plan in zip(per_plan, plans, strict=True):
            small = rgba.resize(plan.size, Image.Resampling.LANCZOS, box=plan.box)
            frames.append(_pad(small, plan.canvas, settings.background) if plan.canvas != small.size else small)
    thumbnails = []
    for size, frames, output_format in zip(settings.sizes, per_plan, formats, strict=True):
        if output_format is None:
            still = _drop_opaque_alpha(frames[0])
            chosen = _choose_format(settings.format_for(size), source.format, has_alpha=still.mode == "RGBA")
            thumbnails.append(_encode(still, chosen, settings, credits, settings.quality_for(size)))
            continue
        # No loop count in a GIF means "play once"; WebP says that with 1.
        loop = source.loop if source.loop is not None else (1 if output_format == "webp" else None)
        thumbnails.append(
            _encode_animation(frames, durations, loop, output_format, settings, settings.quality_for(size), credits)
        )
    assert first_frame is not None  # frame_count >= 2
    return tuple(thumbnails), first_frame


def _encode_animation(
    frames: list[Image.Image],
    durations: list[int],
    loop: int | None,
    output_format: str,
    settings: ImagingSettings,
    quality: int,
    credits: bytes | None,
) -> Thumbnail:
    extension, content_type = _ENCODINGS[output_format]
    options: dict[str, object] = {"save_all": True, "append_images": frames[1:], "duration": durations}
    if loop is not None:
        options["loop"] = loop
    if output_format == "webp":
        options["quality"] = quality
        if credits:
            options["exif"] = credits  # GIF has no place for EXIF
    else:
        options["disposal"] = 2  # each frame replaces the last: no ghosts where frames are transparent
    first = frames[0]
    data = _saved(first, extension, options)
    return Thumbnail(
        first.width, first.height, output_format, extension, content_type, data, *_placeholders(first, settings)
    )


def _make_one(
    pixels: Pixels,
    size: Size,
    plan: Plan,
    orientation: int,
    source_format: str,
    settings: ImagingSettings,
    credits: bytes | None,
) -> Thumbnail:
    small = pixels.image.resize(plan.size, Image.Resampling.LANCZOS, box=plan.box)
    if orientation in _ORIENTATION_TRANSPOSE:
        small = small.transpose(_ORIENTATION_TRANSPOSE[orientation])
    small = _to_srgb(small, pixels.colour)
    small = _drop_opaque_alpha(small)
    if plan.canvas != small.size:
        small = _pad(small, plan.canvas, settings.background)
        small = _drop_opaque_alpha(small)
    output_format = _choose_format(settings.format_for(size), source_format, has_alpha=small.mode == "RGBA")
    return _encode(small, output_format, settings, credits, settings.quality_for(size))


def _to_srgb(image: Image.Image, colour: "ImageCms.ImageCmsTransform | None") -> Image.Image:
    if image.mode == "I":
        # 16-bit samples: scale 0..65535 to 0..255 (a plain convert would clip to white).
        image = image.point(lambda value: value * (1 / 257)).convert("L")
    if colour is not None:
        return colour.apply(image)
    if image.mode == "CMYK":
        return image.convert("RGB")
    return image


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
    extension, content_type = _ENCODINGS[output_format]
    if output_format == "jpeg" and image.mode == "RGBA":
        image = _flatten(image, settings.background)
    # A fresh info dict: no EXIF, GPS, XMP or ICC profile travels to the thumbnail, only
    # the credits when asked for (and the format can carry EXIF).
    image.info = {}
    options = _encoder_options(output_format, quality)
    if credits and output_format in ("jpeg", "webp", "png", "avif"):
        options["exif"] = credits
    data = _saved(image, extension, options)
    return Thumbnail(
        image.width, image.height, output_format, extension, content_type, data, *_placeholders(image, settings)
    )


def _placeholders(image: Image.Image, settings: ImagingSettings) -> tuple[str, str]:
    if not settings.with_placeholders:
        return "", ""
    from thumbnailer.placeholders import placeholders  # thumbhash: imported where it is used

    return placeholders(image)


def blurred(thumbnail: Thumbnail, quality: int) -> Thumbnail:
    """The same thumbnail, blurred past recognition (MODERATION=blur): pixelated to 8 pixels
    on its long side, enlarged smoothly and blurred again, so no detail survives. An
    animation becomes a still of its first frame. ``thumbnail`` is our own output."""
    from PIL import ImageFilter  # only for moderated uploads

    with Image.open(io.BytesIO(thumbnail.data)) as opened_image:
        image = opened_image.convert("RGBA" if opened_image.has_transparency_data else "RGB")
    side = 8
    scale = side / max(image.size)
    tiny = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BOX)
    smooth = tiny.resize(image.size, Image.Resampling.BICUBIC)
    smooth = smooth.filter(ImageFilter.GaussianBlur(max(image.size) / 16))
    options = _encoder_options(thumbnail.format, quality)
    from thumbnailer.placeholders import placeholders

    thumbhash, color = placeholders(smooth)
    return thumbnail._replace(data=_saved(smooth, thumbnail.extension, options), thumbhash=thumbhash, color=color)


def _saved(image: Image.Image, extension: str, options: dict[str, object]) -> bytes:
    """The encoded image. Pillow is given a file name, not a format: with a format it first
    imports five plugins whatever the format, with a name only the one that encodes it."""
    buffer = io.BytesIO()
    buffer.name = f"thumbnail.{extension}"
    image.save(buffer, None, **options)
    return buffer.getvalue()


def _encoder_options(output_format: str, quality: int) -> dict[str, object]:
    if output_format == "jpeg":
        return {"quality": quality, "optimize": True}
    if output_format in ("webp", "avif"):
        return {"quality": quality}
    if output_format == "png":
        return {"optimize": False, "compress_level": 6}
    return {}
