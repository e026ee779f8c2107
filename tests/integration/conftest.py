"""Real parts: fake-gcs-server over HTTP, and the function under functions-framework."""

from __future__ import annotations

import io
import json
import logging
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
from localdev.function import ROOT, FunctionProcess
from localdev.gcs import FakeGcsServer
from localdev.gcs_rules import CloudStorageRules
from localdev.pubsub import PubSubEmulator, ensure_subscription
from tests.integration.helpers import FlakyFunction
from thumbnailer.logs import json_formatter, loggable


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGcsServer]:
    folder = tmp_path_factory.mktemp("gcs")
    with FakeGcsServer(folder / "data", folder / "fake-gcs-server.log") as server:
        yield server


def client_for(gcs: FakeGcsServer) -> storage.Client:
    return storage.Client(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs.url})


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubSubEmulator]:
    """The Pub/Sub emulator, started once for the tests that need it."""
    folder = tmp_path_factory.mktemp("pubsub")
    started = PubSubEmulator(folder / "data", folder / "emulator.log", folder / "gcloud")
    started.start()
    yield started
    started.stop()


PUBSUB_PROJECT = "test-project"


@pytest.fixture
def topic(emulator: PubSubEmulator) -> tuple[str, str]:
    """A fresh topic with a pull subscription: (topic path, subscription path)."""
    suffix = uuid.uuid4().hex[:8]
    subscription = ensure_subscription(emulator.host, PUBSUB_PROJECT, f"topic-{suffix}", f"sub-{suffix}", 10)
    return f"projects/{PUBSUB_PROJECT}/topics/topic-{suffix}", subscription


@pytest.fixture
def rules(gcs: FakeGcsServer) -> Iterator[CloudStorageRules]:
    """Cloud Storage's rules in front of the emulator: stale conditional deletes refused,
    listings paged at 1,000, every write counted (localdev/gcs_rules.py)."""
    with CloudStorageRules(gcs.url) as started:
        yield started


@pytest.fixture(scope="session")
def storage_client(gcs: FakeGcsServer) -> storage.Client:
    return client_for(gcs)


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


@pytest.fixture
def serve_function(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], FunctionProcess]]:
    """The function served by functions-framework as its own process (as Cloud Run runs it)."""
    started: list[FunctionProcess] = []

    def serve(environ: dict[str, str]) -> FunctionProcess:
        served = FunctionProcess(environ, tmp_path / f"function-{len(started)}.log")
        started.append(served)
        served.start()
        return served

    yield serve
    for served in started:
        served.stop()


@dataclass(frozen=True)
class Served:
    """The function served by functions-framework in its own process (gunicorn, a real
    socket), and how to send it an event."""

    process: FunctionProcess

    def deliver(self, attributes: dict[str, str], data: Any, *, structured: bool = False) -> tuple[int, dict[str, Any]]:
        """The HTTP status, and the event's one log line (found by its event id)."""
        status = self.process.post(*(structured_event if structured else binary_event)(attributes, data))
        return status, self.line_for(attributes["id"])

    def line_for(self, event_id: str) -> dict[str, Any]:
        shown = loggable(event_id)
        lines = [line for line in self.process.log_records() if "outcome" in line and line["event_id"] == shown]
        assert len(lines) == 1, lines
        return lines[0]


@pytest.fixture
def serve(serve_function: Callable[[dict[str, str]], FunctionProcess], buckets: Buckets) -> Callable[..., Served]:
    """``serve(storage_url, **settings)``: the served function, writing to ``buckets.output``."""

    def start(storage_url: str, **settings: str) -> Served:
        environ = {"OUTPUT_BUCKET": buckets.output, "STORAGE_EMULATOR_HOST": storage_url, "STORAGE_RETRY_SECONDS": "2"}
        return Served(serve_function({**environ, **settings}))

    return start


__all__ = ["FINALIZED", "Buckets", "Delivery", "FunctionClient", "FunctionProcess", "Served", "client_for", "event_for"]


@pytest.fixture
def flaky() -> Iterator[Callable[[int], FlakyFunction]]:
    """Function stand-ins that answer 500 a given number of times, shut down after the test."""
    servers: list[FlakyFunction] = []

    def make(failures: int) -> FlakyFunction:
        servers.append(FlakyFunction(failures))
        return servers[-1]

    yield make
    for server in servers:
        server.server.shutdown()
        server.server.server_close()
