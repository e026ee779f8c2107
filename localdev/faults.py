"""A fault-injecting HTTP proxy: what the function meets when Cloud Storage has a bad minute.

``FaultProxy`` listens on 127.0.0.1 in front of an HTTP server (fake-gcs-server) and
forwards each request to it, except that a share of requests, chosen at random, meet
one of the faults a real network and a real Cloud Storage produce:

* ``503`` / ``429``: answered at once, nothing forwarded (an overloaded or
  rate-limiting front end);
* ``reset``: the connection is closed before anything is forwarded;
* ``lost-answer``: forwarded (the write or read took effect), then the connection is
  closed without the answer, so the client cannot know it succeeded;
* ``truncated``: forwarded, and the answer is cut off half-way through its body.

Uploads and downloads meet them like any other request. The proxy counts what it did
per kind of request, so a soak can show that every fault happened.
"""

from __future__ import annotations

import enum
import http.client
import random
import sys
import threading
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Self
from urllib.parse import urlsplit


class Fault(enum.StrEnum):
    UNAVAILABLE = "503"
    RATE_LIMITED = "429"
    RESET = "reset"
    LOST_ANSWER = "lost-answer"
    TRUNCATED = "truncated"


class RequestKind(enum.StrEnum):
    UPLOAD = "upload"
    DOWNLOAD = "download"
    OTHER = "other"  # metadata reads, listings, deletes


NO_FAULTS: Mapping[Fault, float] = MappingProxyType({})
#: An HTTP answer: status, headers, body.
Answer = tuple[int, Mapping[str, str], bytes]

# Headers that belong to one connection, not to the message (RFC 9110, 7.6.1).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length"}
)


def request_kind(method: str, path: str) -> RequestKind:
    if path.startswith("/upload/"):
        return RequestKind.UPLOAD
    if method == "GET" and ("alt=media" in path or path.startswith("/download/")):
        return RequestKind.DOWNLOAD
    return RequestKind.OTHER


def choose_fault(rates: Mapping[Fault, float], draw: float) -> Fault | None:
    """The fault for a request whose random draw in [0, 1) is ``draw``, or None."""
    threshold = 0.0
    for fault, rate in rates.items():
        threshold += rate
        if draw < threshold:
            return fault
    return None


class FaultProxy:
    """Forwards HTTP to ``target_url``, injecting ``rates`` (a share of requests per fault)
    into requests of ``kinds``."""

    def __init__(
        self,
        target_url: str,
        rates: Mapping[Fault, float] = NO_FAULTS,
        seed: int = 0,
        kinds: frozenset[RequestKind] = frozenset(RequestKind),
    ) -> None:
        target = urlsplit(target_url)
        if target.scheme != "http" or not target.hostname or not target.port:
            raise ValueError(f"FaultProxy forwards plain HTTP to host:port, not {target_url!r}")
        if sum(rates.values()) > 1:
            raise ValueError("fault rates add up to more than 1")
        self.target = (target.hostname, target.port)
        self.rates = dict(rates)
        self.kinds = kinds  # the kinds of request that may meet a fault
        self.counts: Counter[tuple[RequestKind, Fault | None]] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def set_rates(self, rates: Mapping[Fault, float]) -> None:
        with self._lock:
            self.rates = dict(rates)

    def faults(self) -> Counter[Fault]:
        """How many times each fault was injected, over every kind of request."""
        with self._lock:
            totals: Counter[Fault] = Counter()
            for (_, fault), count in self.counts.items():
                if fault is not None:
                    totals[fault] += count
            return totals

    def arrived(self, method: str, path: str, body: bytes) -> None:
        """Called for each request before anything else happens to it (a subclass may hold it)."""

    def answer(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer | None:
        """A subclass's own answer to a request, instead of the target's; None: forward it."""
        return None

    def answered(self, method: str, path: str, headers: Mapping[str, str], body: bytes, status: int) -> None:
        """Called with the target's status once a request was forwarded and answered."""

    def forward(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Send a request to the target as it is; its status, headers and body."""
        connection = http.client.HTTPConnection(*self.target, timeout=120)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            answer = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            return response.status, kept, answer
        finally:
            connection.close()

    def _decide(self, kind: RequestKind) -> Fault | None:
        with self._lock:
            draw = self._random.random()
            fault = choose_fault(self.rates, draw) if kind in self.kinds else None
            self.counts[kind, fault] += 1
            return fault

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the storage client expects

            def _proxy(self) -> None:
                body = self._read_body()
                proxy.arrived(self.command, self.path, body)
                own = proxy.answer(self.command, self.path, dict(self.headers.items()), body)
                if own is not None:
                    self._answer(*own)
                    return
                fault = proxy._decide(request_kind(self.command, self.path))
                if fault in (Fault.UNAVAILABLE, Fault.RATE_LIMITED):
                    self._answer(int(fault), {"Content-Type": "application/json"}, _error_body(int(fault)))
                    return
                if fault is Fault.RESET:
                    self.close_connection = True
                    return
                status, headers, answer = proxy.forward(self.command, self.path, dict(self.headers.items()), body)
                proxy.answered(self.command, self.path, dict(self.headers.items()), body, status)
                if fault is Fault.LOST_ANSWER:
                    self.close_connection = True
                    return
                self._answer(status, headers, answer, cut=fault is Fault.TRUNCATED)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _proxy  # noqa: N815 (http.server names)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: int, headers: Mapping[str, str], body: bytes, *, cut: bool = False) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if cut and len(body) > 1:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # counted instead

        return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that goes away mid-request (a killed function) is part of the weather
        # here, not an error worth a traceback; anything else still gets one.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _error_body(status: int) -> bytes:
    message = "injected: service unavailable" if status == 503 else "injected: rate limit exceeded"
    return f'{{"error": {{"code": {status}, "message": "{message}"}}}}'.encode()
