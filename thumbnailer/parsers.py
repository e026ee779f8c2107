"""Parsers of setting values: text in, a value out, or ValueError saying what is wrong.

The caller (declaring.Setting.read) names the variable in front of the message.
"""

import enum
import re
from collections.abc import Callable
from typing import Any

from PIL import ImageColor

from thumbnailer.domain import Color, FitMode, Likelihood, OutputFormat, Size

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
    overrides: dict[str, Any] = {}
    for option in options:
        key, _, value = option.partition("=")
        try:
            overrides[key] = _SIZE_OPTIONS[key](value)
        except KeyError:
            raise ValueError(f"{text!r}: unknown option {key!r}; use mode=, format= or quality=") from None
        except ValueError as error:
            raise ValueError(f"{text!r}: {key}: {error}") from None
    return size._replace(**overrides)


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


def parse_positive_rate(text: str) -> float:
    """A rate above 0 (uploads a second: backfill's --max-rate, and deploy's for the job)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"{text!r} is not above 0")
    return value


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


def parse_float_in(
    low: float, high: float, noun: str = "a number", *, low_included: bool = False
) -> Callable[[str], float]:
    """A parser for a number in (low, high], or [low, high] with ``low_included``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not {noun}") from None
        if not (low <= value if low_included else low < value) or value > high:
            raise ValueError(f"{value:g} is outside {'[' if low_included else '('}{low:g}, {high:g}]")
        return value

    return parse


parse_seconds = parse_float_in(0, 3600, "a number of seconds")


#: Seconds, 0 (one attempt) to 600.
parse_retry_seconds = parse_float_in(0, 600, "a number of seconds", low_included=True)


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


def parse_choice(enum_type: type[enum.StrEnum]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return enum_type(text.strip().lower())
        except ValueError:
            choices = ", ".join(member.value for member in enum_type)
            raise ValueError(f"{text!r} is not one of {choices}") from None

    return parse


# The settings one size may have of its own (THUMBNAIL_SIZES=200x200:format=png:quality=70).
_SIZE_OPTIONS: dict[str, Callable[[str], Any]] = {
    "mode": parse_choice(FitMode),
    "format": parse_choice(OutputFormat),
    "quality": parse_int_in(1, 100),
}


def parse_prefix(text: str) -> str:
    if text.startswith("/"):
        raise ValueError(f"{text!r}: object name prefixes do not start with '/'")
    if text and not text.endswith("/"):
        raise ValueError(f"{text!r}: end the prefix with '/' so it names a folder")
    return text


def parse_bucket(text: str) -> str:
    """A bucket name by Cloud Storage's rules (3-63 characters, or up to 222 in dot-separated
    parts of at most 63): enough to catch typos and a gs:// prefix. deploy uses it too."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]", text) or ".." in text:
        raise ValueError(f"{text!r} is not a bucket name (no gs://, lower case, 3-222 characters)")
    if any(len(part) > 63 for part in text.split(".")):
        raise ValueError(f"{text!r} is not a bucket name (over 63 characters between dots)")
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


def parse_content_disposition(text: str) -> str:
    value = text.strip()
    if value not in {"", "inline", "attachment"}:
        raise ValueError(f"{text!r} is not empty, inline or attachment")
    return value


def parse_topic(text: str) -> str:
    value = text.strip()
    if value and not re.fullmatch(
        r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/topics/[A-Za-z][A-Za-z0-9_.~+%-]{2,254}", value
    ):
        raise ValueError(f"{text!r} is not a topic path such as projects/my-project/topics/thumbnails")
    return value


def parse_log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"{text!r} is not one of DEBUG, INFO, WARNING, ERROR")
    return level


def parse_text(text: str) -> str:
    return text.strip()


def parse_failure_prefix(text: str) -> str:
    return "" if text.strip() == "-" else parse_prefix(text)


def parse_choices(enum_type: type[enum.StrEnum]) -> Callable[[str], tuple[Any, ...]]:
    """A comma-separated list of an enum's values, each once; empty: none."""
    one = parse_choice(enum_type)

    def parse(text: str) -> tuple[Any, ...]:
        chosen = [one(part) for part in text.split(",") if part.strip()]
        return tuple(dict.fromkeys(chosen))

    return parse


def parse_likelihood(text: str) -> Likelihood:
    names = ", ".join(member.name for member in Likelihood if member > Likelihood.UNKNOWN)
    try:
        value = Likelihood[text.strip().upper().replace("-", "_")]
    except KeyError:
        raise ValueError(f"{text!r} is not one of {names}") from None
    if value is Likelihood.UNKNOWN:
        raise ValueError(f"{text!r} is not one of {names}")
    return value


#: A score, 0 to 1.
parse_score = parse_float_in(0, 1, "a number", low_included=True)


def parse_endpoint(text: str) -> str:
    """An API's base URL: https, or http for a local stand-in (as STORAGE_EMULATOR_HOST)."""
    value = text.strip().rstrip("/")
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", value):
        raise ValueError(f"{text!r} is not an endpoint such as https://vision.googleapis.com")
    return value


def parse_labels_prefix(text: str) -> str:
    """A folder of its own: labels records must not mix with the thumbnails' names."""
    if not text:
        raise ValueError("the labels records need a folder of their own, such as labels/")
    return parse_prefix(text)
