"""Real parts: fake-gcs-server over HTTP, and the function under functions-framework."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from localdev.events import FINALIZED, binary_event, event_attributes, storage_object_data, structured_event
from localdev.gcs import FakeGcsServer, free_port
from thumbnailer.logs import json_formatter

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGcsServer]:
    folder = tmp_path_factory.mktemp("gcs")
    with FakeGcsServer(folder / "data", folder / "fake-gcs-server.log") as server:
        yield server


@pytest.fixture(scope="session")
def storage_client(gcs: FakeGcsServer) -> storage.Client:
    return storage.Client(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs.url})


@dataclass(frozen=True)
class Buckets:
    input: str
    output: str


@pytest.fixture
def buckets(gcs: FakeGcsServer) -> Buckets:
    suffix = uuid.uuid4().hex[:10]
    result = Buckets(input=f"in-{suffix}", output=f"out-{suffix}")
    gcs.create_bucket(result.input)
    gcs.create_bucket(result.output)
    return result


@dataclass
class Delivery:
    status: int
    logs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def record(self) -> dict[str, Any]:
        """The one log line that says how the event ended."""
        outcomes = [line for line in self.logs if "outcome" in line]
        assert len(outcomes) == 1, self.logs
        return outcomes[0]


def event_for(gcs: FakeGcsServer, bucket: str, name: str, **attributes: str) -> tuple[dict[str, str], Any]:
    """The attributes and data Eventarc would deliver for the object's live generation."""
    data = storage_object_data(gcs.object_resource(bucket, name))
    return event_attributes(data, **attributes), data


class FunctionClient:
    """The function loaded by functions-framework's own ``create_app``, called through its WSGI app."""

    def __init__(self, gcs: FakeGcsServer, log: io.StringIO) -> None:
        self.gcs = gcs
        self._log = log
        self._app = create_app("process_image", str(ROOT / "main.py"), "cloudevent").test_client()

    def post(self, headers: dict[str, str], body: bytes) -> Delivery:
        self._log.seek(0)
        self._log.truncate()
        response = self._app.post("/", headers=headers, data=body)
        lines = self._log.getvalue().splitlines()
        return Delivery(response.status_code, [json.loads(line) for line in lines])

    def deliver(self, bucket: str, name: str, *, structured: bool = False, **attributes: str) -> Delivery:
        attrs, data = event_for(self.gcs, bucket, name, **attributes)
        return self.deliver_data(attrs, data, structured=structured)

    def deliver_data(self, attributes: dict[str, str], data: Any, *, structured: bool = False) -> Delivery:
        headers, body = (structured_event if structured else binary_event)(attributes, data)
        return self.post(headers, body)


FunctionFactory = Callable[..., FunctionClient]


@pytest.fixture
def function_log() -> Iterator[io.StringIO]:
    """The package's JSON log lines, formatted as the function formats them for stdout."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(json_formatter())
    logger = logging.getLogger("thumbnailer")
    logger.addHandler(handler)
    yield buffer
    logger.removeHandler(handler)


@pytest.fixture
def make_function(
    gcs: FakeGcsServer, buckets: Buckets, monkeypatch: pytest.MonkeyPatch, function_log: io.StringIO
) -> FunctionFactory:
    """A function instance with ``OUTPUT_BUCKET`` and the emulator set, plus any settings given."""

    def make(**settings: str) -> FunctionClient:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
        monkeypatch.setenv("OUTPUT_BUCKET", buckets.output)
        monkeypatch.setenv("STORAGE_RETRY_SECONDS", "2")
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        return FunctionClient(gcs, function_log)

    return make


@pytest.fixture
def function(make_function: FunctionFactory) -> FunctionClient:
    return make_function()


class ServedFunction:
    """``functions-framework`` as its own process, serving HTTP on 127.0.0.1."""

    def __init__(self, environ: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "functions_framework",
                "--target", "process_image", "--signature-type", "cloudevent",
                "--source", str(ROOT / "main.py"), "--host", "127.0.0.1", "--port", str(self.port),
            ],
            cwd=ROOT,
            env={**os.environ, **environ},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_until_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"functions-framework exited: {self.output()}")
            try:
                urllib.request.urlopen(self.url, timeout=1)
            except urllib.error.HTTPError:
                return  # it answers (a GET is not a CloudEvent)
            except OSError:
                time.sleep(0.1)
                continue
            return
        raise RuntimeError(f"functions-framework did not start: {self.output()}")

    def post(self, headers: dict[str, str], body: bytes, timeout: float = 60) -> int:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.output().splitlines() if line.startswith('{"')]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def serve_function(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], ServedFunction]]:
    started: list[ServedFunction] = []

    def serve(environ: dict[str, str]) -> ServedFunction:
        served = ServedFunction(environ, tmp_path / f"function-{len(started)}.log")
        started.append(served)
        served.wait_until_ready()
        return served

    yield serve
    for served in started:
        served.stop()


__all__ = ["FINALIZED", "Buckets", "Delivery", "FunctionClient", "ServedFunction", "event_for"]
