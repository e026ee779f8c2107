"""The whole local pipeline, started once per session exactly as `make run` starts it.

Differences from `make run`, all through settings: every port is picked free, the state
folder is temporary, no samples are uploaded, and Eventarc's redelivery schedule is
scaled by 0.0002 (10 s -> 2 ms, 600 s -> 120 ms, 24 h -> 17 s) so a dead letter
arrives within a test.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.cloud import storage

from localdev.settings import LocalSettings
from localdev.stack import Stack

RETRY_SCALE = "0.0002"
DEADLINE_SECONDS = 30.0


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from started_stack(tmp_path_factory, {})


def started_stack(tmp_path_factory: pytest.TempPathFactory, settings: dict[str, str]) -> Iterator[Stack]:
    """The whole local pipeline on free ports, with ``settings`` on top, stopped at the end."""
    state = tmp_path_factory.mktemp("local")
    environ = {
        **os.environ,
        "LOCAL_DIR": str(state),
        "WEB_PORT": "0",
        "STORAGE_PORT": "0",
        "STORAGE_TLS_PORT": "0",
        "PUBSUB_PORT": "0",
        "FUNCTION_PORT": "0",
        "VISION_PORT": "0",
        "EVENTARC_RETRY_SCALE": RETRY_SCALE,
        "LOCAL_SAMPLES": "0",
        "INPUT_BUCKET": "e2e-input",
        "OUTPUT_BUCKET": "e2e-output",
        **settings,
    }
    local = Stack(LocalSettings.from_environ(environ), environ, function_environ=settings)
    try:
        local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def client(stack: Stack) -> storage.Client:
    return stack.storage_client()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


def wait_for(condition: Callable[[], object], what: str, deadline: float = DEADLINE_SECONDS) -> object:
    """Poll until ``condition()`` is truthy; fail naming ``what`` after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {deadline} s")


def wait_for_object(client: storage.Client, bucket: str, name: str) -> storage.Blob:
    blob = wait_for(lambda: client.bucket(bucket).get_blob(name), f"gs://{bucket}/{name}")
    assert isinstance(blob, storage.Blob)
    return blob


def in_local_shell(stack: Stack, command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in bash after ``source .local/env``, as the README tells users to."""
    script = f"source {stack.paths.env_file} && {command}"
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def require_tool(name: str) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed on this machine, so uploads through it were not tested")


class EventarcRecords(logging.Handler):
    """The local Eventarc's log records, for counting delivery attempts."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def for_object(self, name: str) -> list[logging.LogRecord]:
        return [record for record in self.records if getattr(record, "object", None) == name]


@pytest.fixture
def eventarc_records() -> Iterator[EventarcRecords]:
    handler = EventarcRecords()
    logger = logging.getLogger("localdev.eventarc")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)
