"""The local pipeline's settings and small helpers (no processes started)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from localdev import processes
from localdev.processes import _ephemeral_range, free_port
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


def test_free_ports_lie_outside_the_ephemeral_range_and_are_never_handed_out_twice() -> None:
    # A port from a bind to port 0 can be taken again by the next one (a proxy started while
    # the emulator was still starting once took the emulator's port).
    lowest_ephemeral, highest_ephemeral = _ephemeral_range()
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert not any(lowest_ephemeral <= port <= highest_ephemeral for port in ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        assert lowest_ephemeral <= sock.getsockname()[1] <= highest_ephemeral


def test_a_port_something_listens_on_is_not_free(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))  # never handed out, so only the probe can refuse it
        listener.listen()
        taken = listener.getsockname()[1]
        monkeypatch.setattr(random, "choice", lambda _candidates: taken)
        with pytest.raises(RuntimeError, match="no free port"):
            free_port()


def test_where_the_ephemeral_range_leaves_no_room_ports_are_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes, "_candidates", lambda: tuple(range(30000, 30010)))
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    assert not any(30000 <= port < 30010 for port in ports)
