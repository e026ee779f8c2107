"""Stand-ins on 127.0.0.1: a storage endpoint that answers every request with one HTTP
error, a gate in front of the storage emulator that can hold a request, and a listener
that records every connection made to it."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from localdev.faults import FaultProxy


class FailingEndpoint:
    """Answers every request with ``status`` on 127.0.0.1, and counts the requests."""

    def __init__(self, status: int) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                endpoint.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = json.dumps({"error": {"code": status, "message": "injected failure"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer  # noqa: N815 (http.server names)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FailingEndpoint:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str  # with the query string
    body: bytes


@dataclass
class Hold:
    """One request held by a ``StorageGate``: ``reached`` is set when it arrives; it goes on
    to the emulator once ``release()`` is called."""

    matches: Callable[[SeenRequest], bool]
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    held: SeenRequest | None = None

    def release(self) -> None:
        self.released.set()

    def wait_until_reached(self, timeout: float = 30.0) -> SeenRequest:
        assert self.reached.wait(timeout), "the request to hold never came"
        assert self.held is not None
        return self.held


class StorageGate(FaultProxy):
    """A pass-through to a storage emulator, on 127.0.0.1, that can hold a request.

    The function talks to the emulator through it (``STORAGE_EMULATOR_HOST``), so a test
    can stop one event between two of its storage requests (after the download, before
    the upload), do something meanwhile (upload a new generation, deliver its event),
    then let the held request go on. No fault is injected: every request reaches the
    emulator as sent, and its answer comes back as given.
    """

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self._holds: list[Hold] = []
        self._holds_lock = threading.Lock()

    def hold(self, matches: Callable[[SeenRequest], bool]) -> Hold:
        """Hold the next request for which ``matches`` is true (once)."""
        hold = Hold(matches)
        with self._holds_lock:
            self._holds.append(hold)
        return hold

    def arrived(self, method: str, path: str, body: bytes) -> None:
        seen = SeenRequest(method, path, body)
        with self._holds_lock:
            hold = next((h for h in self._holds if h.held is None and h.matches(seen)), None)
            if hold is not None:
                hold.held = seen
        if hold is not None:
            hold.reached.set()
            hold.released.wait(60)

    def stop(self) -> None:
        with self._holds_lock:
            for hold in self._holds:
                hold.release()
        super().stop()


class ConnectionRecorder:
    """A TCP listener on 127.0.0.1 that records every connection made to it (HTTP, HTTPS or
    anything else) with the first bytes sent, and answers nothing useful."""

    def __init__(self) -> None:
        self.connections: list[bytes] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    first = connection.recv(4096)
                except OSError:
                    first = b""
                self.connections.append(first)
                with contextlib.suppress(OSError):
                    connection.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    def __enter__(self) -> ConnectionRecorder:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._socket.close()
