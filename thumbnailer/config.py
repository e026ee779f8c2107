"""Configuration: every environment variable, defined once, read once at cold start.

``VARIABLES`` is the single source of truth: name, default, description and parser.
README's configuration table is generated from it (``python -m thumbnailer settings``)
and a test keeps the two in step.
"""

import enum
import itertools
import re
import string
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from PIL import ImageColor


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class FitMode(enum.StrEnum):
    COVER = "cover"
    CONTAIN = "contain"
    PAD = "pad"
    STRETCH = "stretch"


class OutputFormat(enum.StrEnum):
    AUTO = "auto"
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    AVIF = "avif"
    ORIGINAL = "original"


class Animation(enum.StrEnum):
    ANIMATE = "animate"
    FIRST_FRAME = "first-frame"


# The value types on the command line's import path are NamedTuples, not dataclasses:
# importing dataclasses imports inspect, a tenth of a one-file run's start-up.


class Size(NamedTuple):
    """A thumbnail box, with optional settings of its own (``200x200:format=png:quality=70``).

    Equality and order are by width and height only: one box, one thumbnail name.
    """

    width: int
    height: int
    mode: FitMode | None = None
    format: OutputFormat | None = None
    quality: int | None = None

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    def _box(self) -> tuple[int, int]:
        return (self.width, self.height)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Size) and self._box() == other._box()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._box())

    def __lt__(self, other: tuple[Any, ...]) -> bool:
        return isinstance(other, Size) and self._box() < other._box()

    def __le__(self, other: tuple[Any, ...]) -> bool:
        return isinstance(other, Size) and self._box() <= other._box()

    def __gt__(self, other: tuple[Any, ...]) -> bool:
        return isinstance(other, Size) and self._box() > other._box()

    def __ge__(self, other: tuple[Any, ...]) -> bool:
        return isinstance(other, Size) and self._box() >= other._box()


Color = tuple[int, int, int, int]

MAX_THUMBNAIL_SIDE = 10_000
_SIZE_PATTERN = re.compile(r"([1-9][0-9]*)x([1-9][0-9]*)")


def parse_size(text: str) -> Size:
    box, *options = text.strip().lower().split(":")
    match = _SIZE_PATTERN.fullmatch(box)
    if not match:
        raise ValueError(f"{text!r} is not WIDTHxHEIGHT, e.g. 200x200 or 200x200:format=png")
    size = Size(int(match[1]), int(match[2]))
    if max(size.width, size.height) > MAX_THUMBNAIL_SIDE:
        raise ValueError(f"{text!r}: each side must be at most {MAX_THUMBNAIL_SIDE}")
    overrides: dict[str, object] = {}
    for option in options:
        key, _, value = option.partition("=")
        try:
            overrides[key] = _SIZE_OPTIONS[key](value)
        except KeyError:
            raise ValueError(f"{text!r}: unknown option {key!r}; use mode=, format= or quality=") from None
        except ValueError as error:
            raise ValueError(f"{text!r}: {key}: {error}") from None
    return size._replace(**overrides)  # type: ignore[arg-type]


def parse_sizes(text: str) -> tuple[Size, ...]:
    sizes = tuple(parse_size(part) for part in text.split(",") if part.strip())
    if not sizes:
        raise ValueError("at least one size is required, e.g. 200x200")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"{text!r} lists a size twice")
    return sizes


def parse_color(text: str) -> Color:
    """A CSS colour (``white``, ``#fff``, ``#ffffff00``); alpha 0 pads with transparency."""
    try:
        rgb = ImageColor.getrgb(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a colour such as white, #ffffff or #ffffff00") from None
    return (rgb[0], rgb[1], rgb[2], rgb[3] if len(rgb) == 4 else 255)


def parse_int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value

    return parse


def parse_float_in(low: float, high: float, noun: str = "a number") -> Callable[[str], float]:
    """A parser for a number in (low, high]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not {noun}") from None
        if not low < value <= high:
            raise ValueError(f"{value} is outside ({low:g}, {high:g}]")
        return value

    return parse


_parse_seconds = parse_float_in(0, 3600, "a number of seconds")

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """A duration such as ``90s``, ``30m`` or ``6h`` (a bare number is seconds), in seconds:
    more than 0 and at most 24 hours, the longest Eventarc retries an event."""
    value = text.strip().lower()
    unit = _DURATION_UNITS.get(value[-1:], 0) if value else 0
    try:
        seconds = float(value[:-1] if unit else value) * (unit or 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration such as 90s, 30m or 6h") from None
    if not 0 < seconds <= 86400:
        raise ValueError(f"{text!r} is outside (0s, 24h]")
    return seconds


def _parse_choice(enum_type: type[enum.StrEnum]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return enum_type(text.strip().lower())
        except ValueError:
            choices = ", ".join(member.value for member in enum_type)
            raise ValueError(f"{text!r} is not one of {choices}") from None

    return parse


# The settings one size may have of its own (THUMBNAIL_SIZES=200x200:format=png:quality=70).
_SIZE_OPTIONS: dict[str, Callable[[str], Any]] = {
    "mode": _parse_choice(FitMode),
    "format": _parse_choice(OutputFormat),
    "quality": parse_int_in(1, 100),
}


def _parse_prefix(text: str) -> str:
    if text.startswith("/"):
        raise ValueError(f"{text!r}: object name prefixes do not start with '/'")
    if text and not text.endswith("/"):
        raise ValueError(f"{text!r}: end the prefix with '/' so it names a folder")
    return text


def parse_bucket(text: str) -> str:
    # Bucket naming rules, simplified: enough to catch typos and a gs:// prefix.
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]", text):
        raise ValueError(f"{text!r} is not a bucket name (no gs://, lower case, 3-222 characters)")
    return text


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"true", "1", "yes", "on"}:
        return True
    if value in {"false", "0", "no", "off"}:
        return False
    raise ValueError(f"{text!r} is not true or false")


def parse_patterns(text: str) -> tuple[str, ...]:
    """Comma-separated globs (``*``, ``?``, ``[...]``; ``*`` also crosses ``/``)."""
    patterns = tuple(part.strip() for part in text.split(",") if part.strip())
    for pattern in patterns:
        if pattern.startswith("gs://"):
            raise ValueError(f"{pattern!r}: patterns match object names, without gs://bucket/")
    return patterns


def _parse_content_disposition(text: str) -> str:
    value = text.strip()
    if value not in {"", "inline", "attachment"}:
        raise ValueError(f"{text!r} is not empty, inline or attachment")
    return value


def _parse_topic(text: str) -> str:
    value = text.strip()
    if value and not re.fullmatch(
        r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/topics/[A-Za-z][A-Za-z0-9_.~+%-]{2,254}", value
    ):
        raise ValueError(f"{text!r} is not a topic path such as projects/my-project/topics/thumbnails")
    return value


#: The placeholders of OUTPUT_NAME. For ``photos/2026/cat.jpg`` at 200x200 as WebP:
#: dir ``photos/2026/``, name ``cat.jpg``, stem ``cat``, ext ``jpg``, width ``200``,
#: height ``200``, format ``webp`` (the thumbnail's extension).
NAME_PLACEHOLDERS = frozenset({"dir", "name", "stem", "ext", "width", "height", "format"})


def parse_name_template(text: str) -> str:
    """An OUTPUT_NAME template; refuses what would make two thumbnails share a name."""
    template = text.strip()
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None
    fields = [field for _, field, _, _ in parts if field is not None]
    if any(spec or conversion for _, field, spec, conversion in parts if field is not None):
        raise ValueError(f"{text!r}: placeholders take no format spec or conversion (no {{width:04d}}, no !r)")
    # A placeholder's value must be recoverable from the name: the text between two
    # placeholders may not be empty, and next to a number it must hold a non-digit
    # ({name}1{width} makes a@12 and a1@2 the same).
    for (_, before, _, _), (literal, after, _, _) in itertools.pairwise(parts):
        if before is None or after is None or before == "dir":  # {dir} ends in its own "/"
            continue
        if not literal:
            raise ValueError(f"{text!r}: put a separator between {{{before}}} and {{{after}}}")
        if {before, after} & {"width", "height"} and literal.isdigit():
            raise ValueError(f"{text!r}: separate {{{before}}} and {{{after}}} with something other than digits")
    unknown = sorted(set(fields) - NAME_PLACEHOLDERS)
    if unknown:
        raise ValueError(f"{text!r}: unknown placeholder {{{unknown[0]}}}; use {sorted(NAME_PLACEHOLDERS)}")
    if "format" not in fields:
        raise ValueError(f"{text!r} needs {{format}}: a thumbnail's extension follows its format")
    if "name" not in fields and "{stem}.{ext}" not in template:
        raise ValueError(f"{text!r} needs {{name}}, or {{stem}}.{{ext}}: else cat.jpg and cat.png collide")
    if "dir" not in fields:
        raise ValueError(f"{text!r} needs {{dir}}: else a/cat.jpg and b/cat.jpg collide")
    if template.startswith("/"):
        raise ValueError(f"{text!r}: object names do not start with /")
    return template


def _parse_log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"{text!r} is not one of DEBUG, INFO, WARNING, ERROR")
    return level


def _parse_text(text: str) -> str:
    return text.strip()


class Variable(NamedTuple):
    name: str
    default: str | None  # None: required
    description: str
    parse: Callable[[str], Any]

    def read(self, environ: Mapping[str, str]) -> Any:
        raw = environ.get(self.name)
        if raw is None or raw == "":
            if self.default is None:
                raise ConfigError(f"{self.name} is required: {self.description}")
            raw = self.default
        try:
            return self.parse(raw)
        except ValueError as error:
            raise ConfigError(f"{self.name}: {error}") from None

    def default_value(self) -> Any:
        assert self.default is not None, f"{self.name} has no default"
        return self.parse(self.default)


OUTPUT_BUCKET = Variable(
    "OUTPUT_BUCKET", None, "Bucket the thumbnails are written to (name only, no `gs://`).", parse_bucket
)
OUTPUT_PREFIX = Variable(
    "OUTPUT_PREFIX",
    "",
    "Folder inside the output bucket for thumbnails, ending in `/` (e.g. `thumbnails/`).",
    _parse_prefix,
)
OUTPUT_NAME = Variable(
    "OUTPUT_NAME",
    "{dir}{name}_{width}x{height}.{format}",
    "Name of each thumbnail after OUTPUT_PREFIX: `{dir}` (with its `/`), `{name}`, `{stem}`, `{ext}`, "
    "`{width}`, `{height}`, `{format}`; e.g. `{dir}{stem}-{width}.{ext}.{format}`. Must keep sources and "
    "sizes apart (checked at start).",
    parse_name_template,
)
THUMBNAIL_SIZES = Variable(
    "THUMBNAIL_SIZES",
    "200x200",
    "Comma-separated `WIDTHxHEIGHT` boxes; one decode makes every size (e.g. `200x200,64x64`). A box may "
    "have its own `mode=`, `format=` and `quality=`: `1200x1200:mode=contain:quality=90,64x64:format=png`.",
    parse_sizes,
)
THUMBNAIL_MODE = Variable(
    "THUMBNAIL_MODE",
    "cover",
    "`cover` (exact size, centre crop), `contain` (fit inside), `pad` (fit inside, pad to exact size), "
    "`stretch` (plain resize).",
    _parse_choice(FitMode),
)
THUMBNAIL_FORMAT = Variable(
    "THUMBNAIL_FORMAT",
    "auto",
    "`auto` (JPEG if opaque, WebP if transparent), `jpeg`, `png`, `webp`, `avif`, or `original` "
    "(the input's format when it is JPEG, PNG, WebP, GIF or AVIF, else `auto`).",
    _parse_choice(OutputFormat),
)
THUMBNAIL_QUALITY = Variable(
    "THUMBNAIL_QUALITY", "85", "Encoder quality for JPEG, WebP and AVIF, 1-100.", parse_int_in(1, 100)
)
THUMBNAIL_BACKGROUND = Variable(
    "THUMBNAIL_BACKGROUND",
    "#ffffff",
    "Colour for `pad` borders and for transparent areas in JPEG output; `#rrggbb00` pads with transparency.",
    parse_color,
)
THUMBNAIL_CACHE_CONTROL = Variable(
    "THUMBNAIL_CACHE_CONTROL", "public, max-age=3600", "Cache-Control header set on every thumbnail.", _parse_text
)
THUMBNAIL_CONTENT_DISPOSITION = Variable(
    "THUMBNAIL_CONTENT_DISPOSITION",
    "",
    "Content-Disposition of every thumbnail: empty (none), `inline`, or `attachment` (browsers download it, "
    "named after the source file and size).",
    _parse_content_disposition,
)
KEEP_EXIF_CREDITS = Variable(
    "KEEP_EXIF_CREDITS",
    "false",
    "`true`: thumbnails keep the source's EXIF Artist and Copyright (and nothing else: never GPS, camera or "
    "dates). GIF thumbnails cannot carry them.",
    parse_bool,
)
COPY_SOURCE_METADATA = Variable(
    "COPY_SOURCE_METADATA",
    "false",
    "`true`: copy the upload's custom metadata to its thumbnails (the `thumbnail-*` keys always win).",
    parse_bool,
)
INCLUDE_PATTERNS = Variable(
    "INCLUDE_PATTERNS",
    "",
    "Only uploads whose names match one of these comma-separated globs are processed, e.g. "
    "`photos/*,*.jpg` (`*` also crosses folders); empty: every upload.",
    parse_patterns,
)
EXCLUDE_PATTERNS = Variable(
    "EXCLUDE_PATTERNS",
    "",
    "Uploads whose names match one of these globs are skipped, even if included, e.g. `tmp/*,*.raw`.",
    parse_patterns,
)
RESULT_TOPIC = Variable(
    "RESULT_TOPIC",
    "",
    "Pub/Sub topic (`projects/P/topics/T`) told when an upload's thumbnails are ready or it failed; empty: "
    "none. `deploy.sh` creates it and lets the function publish to it.",
    _parse_topic,
)
MAX_INPUT_BYTES = Variable(
    "MAX_INPUT_BYTES",
    "33554432",
    "Largest upload processed, in bytes (default 32 MiB); checked before downloading.",
    parse_int_in(1, 2**31),
)
MAX_INPUT_PIXELS = Variable(
    "MAX_INPUT_PIXELS",
    "50000000",
    "Largest image processed, in pixels (width x height), checked before decoding: refuses decompression bombs.",
    parse_int_in(1, 178_956_970),  # Pillow's own hard bomb limit is 2 x 89,478,485 pixels
)
ANIMATION = Variable(
    "ANIMATION",
    "animate",
    "Animated GIF and WebP: `animate` (an animated thumbnail, frames resized, timing and loop kept; WebP under "
    "`auto`, the source's format under `original`) or `first-frame`. A JPEG, PNG or AVIF format gets the first "
    "frame.",
    _parse_choice(Animation),
)
MAX_ANIMATION_FRAMES = Variable(
    "MAX_ANIMATION_FRAMES",
    "300",
    "An animation with more frames is thumbnailed from its first frame only.",
    parse_int_in(2, 10_000),
)
MAX_ANIMATION_PIXELS = Variable(
    "MAX_ANIMATION_PIXELS",
    "40000000",
    "Frames x (a frame's pixels + every thumbnail's pixels) above which an animation is thumbnailed from its "
    "first frame only: time, and memory (about 4 bytes each).",
    parse_int_in(1, 2_000_000_000),
)
FAILURE_PREFIX = Variable(
    "FAILURE_PREFIX",
    "failed/",
    "Folder in the output bucket for a JSON record of each upload that cannot be thumbnailed; "
    "set to `-` to write none.",
    lambda text: "" if text.strip() == "-" else _parse_prefix(text),
)
STORAGE_RETRY_SECONDS = Variable(
    "STORAGE_RETRY_SECONDS",
    "30",
    "How long the storage client retries 429/5xx/connection errors before the event is handed back "
    "to Eventarc for redelivery; keep below the function timeout.",
    _parse_seconds,
)
STORAGE_TIMEOUT_SECONDS = Variable(
    "STORAGE_TIMEOUT_SECONDS", "20", "Timeout of one storage request (connect and read).", _parse_seconds
)
MAX_RETRY_AGE = Variable(
    "MAX_RETRY_AGE",
    "1h",
    "How long an event that keeps failing for a transient or unexpected reason is retried, counted from its "
    "time (`ce-time`): the first failure after that writes a failure record (`gave_up`, with the last error) and "
    "acknowledges, and `backfill` redoes it later. `30m`, `6h`, `3600s`; at most `24h`, Eventarc's own limit.",
    parse_duration,
)
LOG_LEVEL = Variable("LOG_LEVEL", "INFO", "`DEBUG`, `INFO`, `WARNING` or `ERROR`.", _parse_log_level)

DELETE_SOURCE = Variable(
    "DELETE_SOURCE",
    "false",
    "`true`: delete each upload once all its thumbnails are written (exactly the generation processed, never "
    "after a failure or when a newer upload is there). The runtime account then needs delete on the input "
    "bucket; `deploy.sh` grants it.",
    parse_bool,
)

VARIABLES: tuple[Variable, ...] = (
    OUTPUT_BUCKET,
    OUTPUT_PREFIX,
    OUTPUT_NAME,
    THUMBNAIL_SIZES,
    THUMBNAIL_MODE,
    THUMBNAIL_FORMAT,
    THUMBNAIL_QUALITY,
    THUMBNAIL_BACKGROUND,
    THUMBNAIL_CACHE_CONTROL,
    THUMBNAIL_CONTENT_DISPOSITION,
    KEEP_EXIF_CREDITS,
    COPY_SOURCE_METADATA,
    INCLUDE_PATTERNS,
    EXCLUDE_PATTERNS,
    RESULT_TOPIC,
    MAX_INPUT_BYTES,
    MAX_INPUT_PIXELS,
    ANIMATION,
    MAX_ANIMATION_FRAMES,
    MAX_ANIMATION_PIXELS,
    FAILURE_PREFIX,
    DELETE_SOURCE,
    STORAGE_RETRY_SECONDS,
    STORAGE_TIMEOUT_SECONDS,
    MAX_RETRY_AGE,
    LOG_LEVEL,
)


class ImagingSettings(NamedTuple):
    """What the pure imaging core needs; the command line builds only this."""

    sizes: tuple[Size, ...] = THUMBNAIL_SIZES.default_value()
    mode: FitMode = THUMBNAIL_MODE.default_value()
    format: OutputFormat = THUMBNAIL_FORMAT.default_value()
    quality: int = THUMBNAIL_QUALITY.default_value()
    background: Color = THUMBNAIL_BACKGROUND.default_value()
    max_input_bytes: int = MAX_INPUT_BYTES.default_value()
    max_input_pixels: int = MAX_INPUT_PIXELS.default_value()
    keep_exif_credits: bool = KEEP_EXIF_CREDITS.default_value()
    animation: Animation = ANIMATION.default_value()
    max_animation_frames: int = MAX_ANIMATION_FRAMES.default_value()
    max_animation_pixels: int = MAX_ANIMATION_PIXELS.default_value()

    # A size's own setting wins over the global one.
    def mode_for(self, size: Size) -> FitMode:
        return size.mode or self.mode

    def format_for(self, size: Size) -> OutputFormat:
        return size.format or self.format

    def quality_for(self, size: Size) -> int:
        return size.quality or self.quality

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "ImagingSettings":
        return cls(
            sizes=THUMBNAIL_SIZES.read(environ),
            mode=THUMBNAIL_MODE.read(environ),
            format=THUMBNAIL_FORMAT.read(environ),
            quality=THUMBNAIL_QUALITY.read(environ),
            background=THUMBNAIL_BACKGROUND.read(environ),
            max_input_bytes=MAX_INPUT_BYTES.read(environ),
            max_input_pixels=MAX_INPUT_PIXELS.read(environ),
            keep_exif_credits=KEEP_EXIF_CREDITS.read(environ),
            animation=ANIMATION.read(environ),
            max_animation_frames=MAX_ANIMATION_FRAMES.read(environ),
            max_animation_pixels=MAX_ANIMATION_PIXELS.read(environ),
        )


class Settings(NamedTuple):
    """Everything the function needs, built once per instance."""

    output_bucket: str
    imaging: ImagingSettings
    output_prefix: str = OUTPUT_PREFIX.default_value()
    output_name: str = OUTPUT_NAME.default_value()
    failure_prefix: str = FAILURE_PREFIX.default_value()
    delete_source: bool = DELETE_SOURCE.default_value()
    cache_control: str = THUMBNAIL_CACHE_CONTROL.default_value()
    content_disposition: str = THUMBNAIL_CONTENT_DISPOSITION.default_value()
    copy_source_metadata: bool = COPY_SOURCE_METADATA.default_value()
    include_patterns: tuple[str, ...] = INCLUDE_PATTERNS.default_value()
    exclude_patterns: tuple[str, ...] = EXCLUDE_PATTERNS.default_value()
    result_topic: str = RESULT_TOPIC.default_value()
    storage_retry_seconds: float = STORAGE_RETRY_SECONDS.default_value()
    storage_timeout_seconds: float = STORAGE_TIMEOUT_SECONDS.default_value()
    max_retry_age_seconds: float = MAX_RETRY_AGE.default_value()
    log_level: str = LOG_LEVEL.default_value()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "Settings":
        imaging = ImagingSettings.from_environ(environ)
        output_name = OUTPUT_NAME.read(environ)
        check_sizes_apart(output_name, imaging.sizes)
        return cls(
            output_bucket=OUTPUT_BUCKET.read(environ),
            imaging=imaging,
            output_prefix=OUTPUT_PREFIX.read(environ),
            output_name=output_name,
            failure_prefix=FAILURE_PREFIX.read(environ),
            delete_source=DELETE_SOURCE.read(environ),
            cache_control=THUMBNAIL_CACHE_CONTROL.read(environ),
            content_disposition=THUMBNAIL_CONTENT_DISPOSITION.read(environ),
            copy_source_metadata=COPY_SOURCE_METADATA.read(environ),
            include_patterns=INCLUDE_PATTERNS.read(environ),
            exclude_patterns=EXCLUDE_PATTERNS.read(environ),
            result_topic=RESULT_TOPIC.read(environ),
            storage_retry_seconds=STORAGE_RETRY_SECONDS.read(environ),
            storage_timeout_seconds=STORAGE_TIMEOUT_SECONDS.read(environ),
            max_retry_age_seconds=MAX_RETRY_AGE.read(environ),
            log_level=LOG_LEVEL.read(environ),
        )


def check_sizes_apart(output_name: str, sizes: tuple[Size, ...]) -> None:
    """Two sizes must never share a thumbnail name: the template must tell them apart."""
    fields = {field for _, field, _, _ in string.Formatter().parse(output_name) if field}
    keys = {(size.width if "width" in fields else None, size.height if "height" in fields else None) for size in sizes}
    if len(keys) != len(sizes):
        raise ConfigError(
            f"{OUTPUT_NAME.name}: {output_name!r} gives two of THUMBNAIL_SIZES the same name; "
            "add {width} and {height}"
        )


def markdown_table(variables: tuple[Variable, ...] | None = None) -> str:
    """README's configuration table, generated so it cannot drift from the code."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for variable in VARIABLES if variables is None else variables:
        default = "*(required)*" if variable.default is None else f"`{variable.default}`"
        if variable.default == "":
            default = "*(empty)*"
        rows.append(f"| `{variable.name}` | {default} | {variable.description} |")
    return "\n".join(rows)
