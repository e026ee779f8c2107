from pathlib import Path

import pytest

from thumbnailer.config import (
    VARIABLES,
    ConfigError,
    FitMode,
    ImagingSettings,
    OutputFormat,
    Settings,
    Size,
    Variable,
    markdown_table,
)

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


# Free text: cache-control, and globs (any text is a glob); test_patterns_are_read covers those.
FREE_TEXT = {"THUMBNAIL_CACHE_CONTROL", "INCLUDE_PATTERNS", "EXCLUDE_PATTERNS"}


def test_patterns_are_read() -> None:
    environ = {"OUTPUT_BUCKET": "thumbs", "INCLUDE_PATTERNS": " photos/*, *.jpg ,", "EXCLUDE_PATTERNS": "tmp/*"}
    settings = Settings.from_environ(environ)
    assert (settings.include_patterns, settings.exclude_patterns) == (("photos/*", "*.jpg"), ("tmp/*",))


@pytest.mark.parametrize("variable", [v for v in VARIABLES if v.name not in FREE_TEXT], ids=lambda v: v.name)
def test_every_variable_is_read_and_checked(variable: Variable) -> None:
    """A variable in the table but never read would be a lie in README (cache-control is free text)."""
    with pytest.raises(ConfigError, match=rf"^{variable.name}"):
        Settings.from_environ({"OUTPUT_BUCKET": "thumbs", variable.name: "%%bad%%"})


def test_readme_table_matches_the_code() -> None:
    assert markdown_table() in README.read_text(encoding="utf-8"), "run `python -m thumbnailer settings`"
