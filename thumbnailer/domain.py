"""The values settings are made of: fit modes, output formats, boxes, colours.

Value types on the command line's import path are NamedTuples, not dataclasses:
importing dataclasses imports inspect, a tenth of a one-file run's start-up.
"""

import enum
from typing import Any, NamedTuple


class FitMode(enum.StrEnum):
    COVER = "cover"
    ATTENTION = "attention"  # cover, the crop following the most interesting region
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


#: RGBA, each 0-255; alpha 0 pads with transparency.
Color = tuple[int, int, int, int]


class VisionFeature(enum.StrEnum):
    LABELS = "labels"
    SAFE_SEARCH = "safe-search"


class Moderation(enum.StrEnum):
    OFF = "off"
    RECORD = "record"  # the verdict in the labels record and the result message only
    BLUR = "blur"  # a flagged upload's thumbnails are blurred past recognition
    WITHHOLD = "withhold"  # a flagged upload gets no thumbnail, and a failure record


class Likelihood(enum.IntEnum):
    """Cloud Vision's SafeSearch likelihoods, in order (their numbers are the API's)."""

    UNKNOWN = 0
    VERY_UNLIKELY = 1
    UNLIKELY = 2
    POSSIBLE = 3
    LIKELY = 4
    VERY_LIKELY = 5
