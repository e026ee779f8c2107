"""The local pipeline's settings and small helpers (no processes started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from localdev.settings import ROOT, LocalSettings
from localdev.web import upload_name
from thumbnailer.declaring import ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults() -> None:
    settings = LocalSettings.from_environ({})
    assert (settings.input_bucket, settings.output_bucket) == ("thumbnailer-input", "thumbnailer-output")
    assert settings.state_dir == ROOT / ".local"
    assert (settings.web_port, settings.storage_port, settings.storage_tls_port) == (8080, 9023, 9443)
    assert settings.retry_scale == 0.01
    assert settings.upload_samples


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEB_PORT", "http"),
        ("PUBSUB_PORT", "70000"),
        ("EVENTARC_RETRY_SCALE", "0"),
        ("EVENTARC_RETRY_SCALE", "2"),
        ("INPUT_BUCKET", "gs://bucket"),
        ("LOCAL_PROJECT", "1project"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}: "):
        LocalSettings.from_environ({variable: value})


def test_a_relative_state_folder_is_under_the_repository(tmp_path: Path) -> None:
    assert LocalSettings.from_environ({"LOCAL_DIR": "elsewhere"}).state_dir == ROOT / "elsewhere"
    assert LocalSettings.from_environ({"LOCAL_DIR": str(tmp_path)}).state_dir == tmp_path


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("photo.jpg", "photo.jpg"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("../../etc/x.png", "x.png"),
        ("é ü.jpg", "é ü.jpg"),
    ],
)
def test_browser_uploads_keep_only_the_file_name(filename: str, name: str) -> None:
    assert upload_name(filename) == name


@pytest.mark.parametrize("filename", ["", "   ", ".."])
def test_a_nameless_upload_is_refused(filename: str) -> None:
    with pytest.raises(ValueError, match="no name"):
        upload_name(filename)
