"""`make run`'s program as a user runs it: start, samples, Ctrl-C, nothing left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from localdev.function import ROOT
from localdev.processes import free_port
from tests.e2e.conftest import wait_for

FREE_PORTS = dict.fromkeys(
    ("WEB_PORT", "STORAGE_PORT", "STORAGE_TLS_PORT", "PUBSUB_PORT", "FUNCTION_PORT", "VISION_PORT"), "0"
)


def _start(environ: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "localdev", "run"], cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT
        )


def _exports(env_file: Path) -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=(\S+)$", env_file.read_text(), flags=re.MULTILINE))


def _listening(url: str) -> bool:
    host, port = url.removeprefix("http://").strip("/").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


def _processes_mentioning(text: str) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if text in line and "ps -eo" not in line]


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "state"
    yield folder
    for line in _processes_mentioning(str(folder)):  # never leak a process, even when a test fails
        os.kill(int(line.split()[0]), signal.SIGKILL)


def test_starts_processes_the_samples_and_stops_cleanly_on_ctrl_c(state: Path, tmp_path: Path) -> None:
    environ = {**os.environ, **FREE_PORTS, "LOCAL_DIR": str(state)}
    process = _start(environ, tmp_path / "out.log")
    try:
        wait_for(lambda: (state / "env").exists() or process.poll() is not None, "the env file", deadline=60)
        assert process.poll() is None, (tmp_path / "out.log").read_text()
        exports = _exports(state / "env")
        for name in ("INPUT_BUCKET", "OUTPUT_BUCKET", "STORAGE_EMULATOR_HOST", "BOTO_CONFIG", "CLOUDSDK_CONFIG"):
            assert name in exports
        client = storage.Client(
            project="p",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": exports["STORAGE_EMULATOR_HOST"]},
        )

        def processed() -> list[str]:
            names = sorted(blob.name for blob in client.list_blobs(exports["OUTPUT_BUCKET"]))
            return names if len(names) == 7 else []

        # Vision is on locally (the stand-in): every image also has its labels record.
        assert wait_for(processed, "the samples' thumbnails, labels and failure record") == [
            "failed/samples/not-an-image.jpg.json",
            "labels/samples/landscape.jpg.json",
            "labels/samples/portrait-exif-rotated.jpg.json",
            "labels/samples/transparent-logo.png.json",
            "samples/landscape.jpg_200x200.jpg",
            "samples/portrait-exif-rotated.jpg_200x200.jpg",
            "samples/transparent-logo.png_200x200.webp",
        ]
        output = (tmp_path / "out.log").read_text()
        assert exports["THUMBNAILER_WEB_URL"] in output
        assert "gsutil cp photo.jpg gs://$INPUT_BUCKET/" in output
        labels = json.loads(
            client.bucket(exports["OUTPUT_BUCKET"]).blob("labels/samples/landscape.jpg.json").download_as_bytes()
        )
        assert labels["labels"]
        assert labels["safe_search"]["adult"] in ("VERY_UNLIKELY", "UNLIKELY")
        keys = ("STORAGE_EMULATOR_HOST", "THUMBNAILER_WEB_URL", "THUMBNAILER_FUNCTION_URL", "VISION_API_ENDPOINT")
        urls = [exports[key] for key in keys]
        urls.append(f"http://{exports['PUBSUB_EMULATOR_HOST']}")
        assert all(_listening(url) for url in urls)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0, (tmp_path / "out.log").read_text()
    assert not any(_listening(url) for url in urls)
    assert _processes_mentioning(str(state)) == []
    assert not (state / "env").exists()


def test_a_missing_java_is_named_with_how_to_install_it(state: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gcloud = subprocess.run(["bash", "-c", "command -v gcloud"], capture_output=True, text=True, check=False).stdout
    if gcloud.strip():
        (bin_dir / "gcloud").symlink_to(os.path.realpath(gcloud.strip()))
    environ = {**os.environ, **FREE_PORTS, "LOCAL_DIR": str(state), "PATH": str(bin_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "localdev", "run"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    expected = "Java is not installed" if gcloud.strip() else "the Google Cloud CLI (gcloud) is not installed"
    assert expected in result.stdout
    assert "apt-get install" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value"), [("WEB_PORT", "eighty"), ("THUMBNAIL_SIZES", "big"), ("INPUT_BUCKET", "gs://x")]
)
def test_a_bad_setting_stops_before_anything_starts(state: Path, variable: str, value: str) -> None:
    environ = {**os.environ, **FREE_PORTS, "LOCAL_DIR": str(state), variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "localdev", "run"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert f"bad setting: {variable}:" in result.stdout
    assert not state.exists()


def test_a_port_in_use_is_named(state: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environ = {**os.environ, **FREE_PORTS, "LOCAL_DIR": str(state), "WEB_PORT": str(port)}
        result = subprocess.run(
            [sys.executable, "-m", "localdev", "run"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"WEB_PORT: port {port} on 127.0.0.1 is in use" in result.stdout
    assert _processes_mentioning(str(state)) == []


def _in_time_wait(ports: set[int]) -> set[int]:
    """Which of ``ports`` (on 127.0.0.1) have a connection in TIME_WAIT, from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state_code = line.split()[1], line.split()[3]
        if state_code == "06" and int(local.split(":")[1], 16) in ports:
            found.add(int(local.split(":")[1], 16))
    return found


def test_a_stopped_run_can_be_started_again_at_once_on_the_same_ports(state: Path, tmp_path: Path) -> None:
    """Ctrl-C leaves the servers' closed connections in TIME_WAIT for a minute; nothing
    listens, so the same fixed ports must be taken again at once."""
    ports = {name: str(free_port()) for name in FREE_PORTS}
    environ = {**os.environ, **ports, "LOCAL_DIR": str(state)}

    def run_once(log: Path) -> None:
        process = _start(environ, log)
        try:
            wait_for(lambda: (state / "env").exists() or process.poll() is not None, "the env file", deadline=60)
            assert process.poll() is None, log.read_text()
            wait_for(lambda: "failed: " in log.read_text() or None, "the samples to be processed")
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0, log.read_text()

    run_once(tmp_path / "first.log")
    assert _in_time_wait({int(port) for port in ports.values()}), "no TIME_WAIT: this test would prove nothing"
    run_once(tmp_path / "second.log")
    assert "is in use" not in (tmp_path / "second.log").read_text()
