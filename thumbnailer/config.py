"""Every environment variable of the function, declared once (see declaring.py).

Each field below is one setting: its variable, default, description and parser. Adding
a setting is a field here and its use; the configuration table (docs/configuration.md),
deploy's list of variables to pass and the command line's checks follow from it.
"""

from collections.abc import Mapping
from typing import Annotated, NamedTuple

from thumbnailer import parsers
from thumbnailer.declaring import ConfigError, declaration, declared, read, setting
from thumbnailer.domain import Animation, Color, FitMode, Likelihood, Moderation, OutputFormat, Size, VisionFeature
from thumbnailer.naming import DEFAULT_TEMPLATE, check_sizes_apart, parse_name_template


@declared
class ImagingSettings(NamedTuple):
    """What the pure imaging core needs; the command line builds only this."""

    sizes: tuple[Size, ...] = setting(
        "THUMBNAIL_SIZES",
        "200x200",
        "Comma-separated `WIDTHxHEIGHT` boxes; one decode makes every size (e.g. `200x200,64x64`). A box may "
        "have its own `mode=`, `format=` and `quality=`: `1200x1200:mode=contain:quality=90,64x64:format=png`.",
        parsers.parse_sizes,
    )
    mode: FitMode = setting(
        "THUMBNAIL_MODE",
        "cover",
        "`cover` (exact size, centre crop), `attention` (exact size, the crop following the most interesting "
        "region: libvips smartcrop), `contain` (fit inside), `pad` (fit inside, pad to exact size), "
        "`stretch` (plain resize).",
        parsers.parse_choice(FitMode),
    )
    format: OutputFormat = setting(
        "THUMBNAIL_FORMAT",
        "auto",
        "`auto` (JPEG if opaque, WebP if transparent), `jpeg`, `png`, `webp`, `avif`, or `original` "
        "(the input's format when it is JPEG, PNG, WebP, GIF or AVIF, else `auto`).",
        parsers.parse_choice(OutputFormat),
    )
    quality: int = setting(
        "THUMBNAIL_QUALITY", "85", "Encoder quality for JPEG, WebP and AVIF, 1-100.", parsers.parse_int_in(1, 100)
    )
    background: Color = setting(
        "THUMBNAIL_BACKGROUND",
        "#ffffff",
        "Colour for `pad` borders and for transparent areas in JPEG output; `#rrggbb00` pads with transparency.",
        parsers.parse_color,
    )
    keep_exif_credits: bool = setting(
        "KEEP_EXIF_CREDITS",
        "false",
        "`true`: thumbnails keep the source's EXIF Artist and Copyright (and nothing else: never GPS, camera or "
        "dates). GIF thumbnails cannot carry them.",
        parsers.parse_bool,
    )
    max_input_bytes: int = setting(
        "MAX_INPUT_BYTES",
        "33554432",
        "Largest upload processed, in bytes (default 32 MiB); checked before downloading.",
        parsers.parse_int_in(1, 2**31),
    )
    max_input_pixels: int = setting(
        "MAX_INPUT_PIXELS",
        "50000000",
        "Largest image processed, in pixels (width x height), checked before decoding: refuses decompression bombs.",
        parsers.parse_int_in(1, 178_956_970),  # Pillow's own hard bomb limit is 2 x 89,478,485 pixels
    )
    animation: Animation = setting(
        "ANIMATION",
        "animate",
        "Animated GIF and WebP: `animate` (an animated thumbnail, frames resized, timing and loop kept; WebP "
        "under `auto`, the source's format under `original`) or `first-frame`. A JPEG, PNG or AVIF format gets "
        "the first frame.",
        parsers.parse_choice(Animation),
    )
    max_animation_frames: int = setting(
        "MAX_ANIMATION_FRAMES",
        "300",
        "An animation with more frames is thumbnailed from its first frame only.",
        parsers.parse_int_in(2, 10_000),
    )
    max_animation_pixels: int = setting(
        "MAX_ANIMATION_PIXELS",
        "40000000",
        "Frames x (a frame's pixels + every thumbnail's pixels) above which an animation is thumbnailed from its "
        "first frame only: time, and memory (about 4 bytes each).",
        parsers.parse_int_in(1, 2_000_000_000),
    )

    #: ThumbHash and dominant colour per thumbnail (object metadata); not a variable: the
    #: command line turns them off, since its files carry no metadata.
    with_placeholders: bool = True

    # A size's own setting wins over the global one.
    def mode_for(self, size: Size) -> FitMode:
        return size.mode or self.mode

    def format_for(self, size: Size) -> OutputFormat:
        return size.format or self.format

    def quality_for(self, size: Size) -> int:
        return size.quality or self.quality

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "ImagingSettings":
        return read(cls, environ)


@declared
class Settings(NamedTuple):
    """Everything the function needs, built once per instance."""

    output_bucket: Annotated[
        str,
        setting(
            "OUTPUT_BUCKET", None, "Bucket the thumbnails are written to (name only, no `gs://`).", parsers.parse_bucket
        ),
    ]
    output_prefix: str = setting(
        "OUTPUT_PREFIX",
        "",
        "Folder inside the output bucket for thumbnails, ending in `/` (e.g. `thumbnails/`).",
        parsers.parse_prefix,
    )
    output_name: str = setting(
        "OUTPUT_NAME",
        DEFAULT_TEMPLATE,
        "Name of each thumbnail after OUTPUT_PREFIX: `{dir}` (with its `/`), `{name}`, `{stem}`, `{ext}`, "
        "`{width}`, `{height}`, `{format}`; e.g. `{dir}{stem}-{width}.{ext}.{format}`. Must keep sources and "
        "sizes apart (checked at start).",
        parse_name_template,
    )
    imaging: ImagingSettings = ImagingSettings()
    cache_control: str = setting(
        "THUMBNAIL_CACHE_CONTROL",
        "public, max-age=3600",
        "Cache-Control header set on every thumbnail.",
        parsers.parse_text,
    )
    content_disposition: str = setting(
        "THUMBNAIL_CONTENT_DISPOSITION",
        "",
        "Content-Disposition of every thumbnail: empty (none), `inline`, or `attachment` (browsers download it, "
        "named after the source file and size).",
        parsers.parse_content_disposition,
    )
    copy_source_metadata: bool = setting(
        "COPY_SOURCE_METADATA",
        "false",
        "`true`: copy the upload's custom metadata to its thumbnails (the `thumbnail-*` keys always win).",
        parsers.parse_bool,
    )
    include_patterns: tuple[str, ...] = setting(
        "INCLUDE_PATTERNS",
        "",
        "Only uploads whose names match one of these comma-separated globs are processed, e.g. "
        "`photos/*,*.jpg` (`*` also crosses folders); empty: every upload.",
        parsers.parse_patterns,
    )
    exclude_patterns: tuple[str, ...] = setting(
        "EXCLUDE_PATTERNS",
        "",
        "Uploads whose names match one of these globs are skipped, even if included, e.g. `tmp/*,*.raw`.",
        parsers.parse_patterns,
    )
    result_topic: str = setting(
        "RESULT_TOPIC",
        "",
        "Pub/Sub topic (`projects/P/topics/T`) told when an upload's thumbnails are ready or it failed; empty: "
        "none. `deploy.sh` creates it and lets the function publish to it.",
        parsers.parse_topic,
    )
    failure_prefix: str = setting(
        "FAILURE_PREFIX",
        "failed/",
        "Folder in the output bucket for a JSON record of each upload that cannot be thumbnailed; "
        "set to `-` to write none.",
        parsers.parse_failure_prefix,
    )
    delete_source: bool = setting(
        "DELETE_SOURCE",
        "false",
        "`true`: delete each upload once all its thumbnails are written (exactly the generation processed, never "
        "after a failure or when a newer upload is there). The runtime account then needs delete on the input "
        "bucket; `deploy.sh` grants it.",
        parsers.parse_bool,
    )
    delete_thumbnails_with_source: bool = setting(
        "DELETE_THUMBNAILS_WITH_SOURCE",
        "false",
        "`true`: when an upload is deleted (or overwritten), its thumbnails, labels record and failure record go "
        "too: exactly the deleted generation's, never a newer one's. `deploy.sh` adds the second trigger "
        "(`object.v1.deleted`) it needs. Not with DELETE_SOURCE.",
        parsers.parse_bool,
    )
    storage_retry_seconds: float = setting(
        "STORAGE_RETRY_SECONDS",
        "30",
        "How long the storage client retries 429/5xx/connection errors before the event is handed back "
        "to Eventarc for redelivery; keep below the function timeout.",
        parsers.parse_seconds,
    )
    storage_timeout_seconds: float = setting(
        "STORAGE_TIMEOUT_SECONDS", "20", "Timeout of one storage request (connect and read).", parsers.parse_seconds
    )
    max_retry_age_seconds: float = setting(
        "MAX_RETRY_AGE",
        "1h",
        "How long an event that keeps failing for a transient or unexpected reason is retried, counted from its "
        "time (`ce-time`): the first failure after that writes a failure record (`gave_up`, with the last error) "
        "and acknowledges, and `backfill` redoes it later. `30m`, `6h`, `3600s`; at most `24h`, Eventarc's own "
        "limit.",
        parsers.parse_duration,
    )
    vision_features: tuple[VisionFeature, ...] = setting(
        "VISION_FEATURES",
        "",
        "Cloud Vision, one request per upload: empty (off), or a comma list of `labels` and `safe-search` "
        "(free when sent with labels). Results go to a labels record and the result message; see "
        "docs/vision.md for the cost.",
        parsers.parse_choices(VisionFeature),
    )
    vision_max_labels: int = setting(
        "VISION_MAX_LABELS", "10", "Most labels asked for and kept per upload.", parsers.parse_int_in(1, 50)
    )
    vision_min_score: float = setting(
        "VISION_MIN_SCORE", "0.5", "Labels scored below this (0-1) are dropped.", parsers.parse_score
    )
    vision_api_endpoint: str = setting(
        "VISION_API_ENDPOINT",
        "https://vision.googleapis.com",
        "Where Vision requests go; `http://` (a local stand-in, as `make run` starts) is sent without "
        "credentials, as STORAGE_EMULATOR_HOST is.",
        parsers.parse_endpoint,
    )
    vision_retry_seconds: float = setting(
        "VISION_RETRY_SECONDS",
        "10",
        "How long a 429/5xx/timeout from Vision is retried in the instance before the event is handed back "
        "to Eventarc (which redelivers it; thumbnails already written are not written again); 0: one attempt.",
        parsers.parse_retry_seconds,
    )
    labels_prefix: str = setting(
        "LABELS_PREFIX",
        "labels/",
        "Folder in the output bucket for each upload's labels record (`<prefix><object>.json`).",
        parsers.parse_labels_prefix,
    )
    moderation: Moderation = setting(
        "MODERATION",
        "off",
        "SafeSearch moderation (needs `safe-search` in VISION_FEATURES): `off`, `record` (the verdict recorded "
        "only), `blur` (a flagged upload's thumbnails blurred past recognition) or `withhold` (none written; a "
        "failure record says `moderated`). Under `blur` and `withhold` thumbnails wait for Vision.",
        parsers.parse_choice(Moderation),
    )
    moderation_likelihood: Likelihood = setting(
        "MODERATION_LIKELIHOOD",
        "LIKELY",
        "An upload is flagged when SafeSearch rates it adult, violence or racy at this likelihood or above: "
        "`POSSIBLE`, `LIKELY` or `VERY_LIKELY`.",
        parsers.parse_likelihood,
    )
    log_level: str = setting("LOG_LEVEL", "INFO", "`DEBUG`, `INFO`, `WARNING` or `ERROR`.", parsers.parse_log_level)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "Settings":
        settings = read(cls, environ)
        read_output_name(environ, settings.imaging.sizes)  # the template must keep the sizes apart
        if settings.moderation is not Moderation.OFF and VisionFeature.SAFE_SEARCH not in settings.vision_features:
            raise ConfigError(
                f"MODERATION: {settings.moderation.value!r} needs safe-search in VISION_FEATURES "
                f"(it is {','.join(settings.vision_features) or 'empty'})"
            )
        if settings.delete_source and settings.delete_thumbnails_with_source:
            raise ConfigError(
                "DELETE_THUMBNAILS_WITH_SOURCE: cannot be true with DELETE_SOURCE (each processed upload would be "
                "deleted, and its thumbnails with it)"
            )
        return settings


def read_output_name(environ: Mapping[str, str], sizes: tuple[Size, ...]) -> str:
    """OUTPUT_NAME, checked against the sizes it must keep apart (the command line needs
    only this and the imaging settings)."""
    template: str = declaration(Settings, "output_name").read(environ)
    try:
        check_sizes_apart(template, sizes)
    except ValueError as error:
        raise ConfigError(f"OUTPUT_NAME: {error}") from None
    return template
