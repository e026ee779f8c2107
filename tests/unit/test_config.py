from pathlib import Path
from typing import Annotated, NamedTuple

import pytest

from thumbnailer.config import ImagingSettings, Settings
from thumbnailer.declaring import ConfigError, declared, markdown_table, read, setting, variables
from thumbnailer.domain import FitMode, OutputFormat, Size
from thumbnailer.parsers import parse_int_in, parse_text

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults() -> None:
    settings = Settings.from_environ({"OUTPUT_BUCKET": "thumbs"})
    assert settings.output_bucket == "thumbs"
    assert settings.imaging == ImagingSettings()
    assert settings.imaging.sizes == (Size(200, 200),)
    assert settings.imaging.mode is FitMode.COVER
    assert settings.imaging.format is OutputFormat.AUTO
    assert settings.imaging.max_input_pixels == 50_000_000
    assert settings.output_prefix == ""
    assert settings.failure_prefix == "failed/"


def test_values_are_parsed() -> None:
    settings = Settings.from_environ(
        {
            "OUTPUT_BUCKET": "thumbs",
            "THUMBNAIL_SIZES": " 200x200, 64x48 ",
            "THUMBNAIL_MODE": "PAD",
            "THUMBNAIL_FORMAT": "webp",
            "THUMBNAIL_BACKGROUND": "#00000000",
            "OUTPUT_PREFIX": "thumbnails/",
            "FAILURE_PREFIX": "-",
            "MAX_INPUT_PIXELS": "1_000_000",
        }
    )
    assert settings.imaging.sizes == (Size(200, 200), Size(64, 48))
    assert settings.imaging.mode is FitMode.PAD
    assert settings.imaging.format is OutputFormat.WEBP
    assert settings.imaging.background == (0, 0, 0, 0)
    assert settings.output_prefix == "thumbnails/"
    assert settings.failure_prefix == ""
    assert settings.imaging.max_input_pixels == 1_000_000


def test_settings_are_frozen() -> None:
    settings = Settings.from_environ({"OUTPUT_BUCKET": "thumbs"})
    with pytest.raises(AttributeError):
        settings.output_bucket = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OUTPUT_BUCKET", "gs://thumbs"),
        ("OUTPUT_BUCKET", "Thumbs"),
        ("THUMBNAIL_SIZES", "200"),
        ("THUMBNAIL_SIZES", "0x200"),
        ("THUMBNAIL_SIZES", "200x200,200x200"),
        ("THUMBNAIL_SIZES", "20000x20"),
        ("THUMBNAIL_SIZES", ","),
        ("THUMBNAIL_MODE", "fill"),
        ("THUMBNAIL_FORMAT", "bmp"),
        ("THUMBNAIL_QUALITY", "101"),
        ("THUMBNAIL_QUALITY", "high"),
        ("THUMBNAIL_BACKGROUND", "not-a-colour"),
        ("MAX_INPUT_BYTES", "-1"),
        ("MAX_INPUT_PIXELS", "999999999999"),
        ("OUTPUT_PREFIX", "thumbnails"),
        ("OUTPUT_PREFIX", "/thumbnails/"),
        ("STORAGE_RETRY_SECONDS", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("DELETE_SOURCE", "maybe"),
        ("COPY_SOURCE_METADATA", "sometimes"),
        ("THUMBNAIL_CONTENT_DISPOSITION", "download"),
        ("INCLUDE_PATTERNS", "gs://photos/*"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(name: str, value: str) -> None:
    environ = {"OUTPUT_BUCKET": "thumbs", name: value}
    with pytest.raises(ConfigError, match=rf"^{name}: "):
        Settings.from_environ(environ)


def test_output_bucket_is_required() -> None:
    with pytest.raises(ConfigError, match="OUTPUT_BUCKET is required"):
        Settings.from_environ({})


def test_patterns_are_read() -> None:
    environ = {"OUTPUT_BUCKET": "thumbs", "INCLUDE_PATTERNS": " photos/*, *.jpg ,", "EXCLUDE_PATTERNS": "tmp/*"}
    settings = Settings.from_environ(environ)
    assert (settings.include_patterns, settings.exclude_patterns) == (("photos/*", "*.jpg"), ("tmp/*",))


def test_every_variable_of_the_function_is_declared_once() -> None:
    names = [declaration.variable for declaration in variables(Settings)]
    assert len(names) == len(set(names)) == 35
    assert names[0] == "OUTPUT_BUCKET"
    assert {"THUMBNAIL_SIZES", "MAX_INPUT_PIXELS", "MAX_RETRY_AGE"} <= set(names)  # groups' settings in place


@declared
class Example(NamedTuple):
    """What a new setting takes: one declaration. Reading, defaults and the table follow."""

    required: Annotated[str, setting("EXAMPLE_REQUIRED", None, "A name.", parse_text)]
    copies: int = setting("EXAMPLE_COPIES", "3", "How many.", parse_int_in(1, 9))
    inner: ImagingSettings = ImagingSettings()
    plain: str = "not a setting"


def test_a_setting_is_one_declaration() -> None:
    assert Example(required="x") == Example("x", 3, ImagingSettings(), "not a setting")
    read_back = read(Example, {"EXAMPLE_REQUIRED": " y ", "EXAMPLE_COPIES": "7", "THUMBNAIL_QUALITY": "40"})
    assert (read_back.required, read_back.copies, read_back.inner.quality, read_back.plain) == (
        "y",
        7,
        40,
        "not a setting",
    )
    assert [d.variable for d in variables(Example)][:2] == ["EXAMPLE_REQUIRED", "EXAMPLE_COPIES"]
    assert "THUMBNAIL_SIZES" in [d.variable for d in variables(Example)]
    table = markdown_table(Example).splitlines()
    assert table[2:4] == ["| `EXAMPLE_REQUIRED` | *(required)* | A name. |", "| `EXAMPLE_COPIES` | `3` | How many. |"]
    with pytest.raises(ConfigError, match=r"^EXAMPLE_COPIES: 10 is outside 1\.\.9"):
        read(Example, {"EXAMPLE_REQUIRED": "y", "EXAMPLE_COPIES": "10"})
    with pytest.raises(ConfigError, match=r"^EXAMPLE_REQUIRED is required"):
        read(Example, {})
