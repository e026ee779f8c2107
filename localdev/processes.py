"""What every child process of the local pipeline needs: a free port, and a wait until it answers."""

from __future__ import annotations

import functools
import random
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

# Where the kernel hands out ports for bind(("", 0)) and outgoing connections; IANA's range
# where /proc does not say (macOS).
_EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_IANA_EPHEMERAL_RANGE = (49152, 65535)
_LOWEST_PORT = 20000
_FEWEST_CANDIDATES = 1000
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in _EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return _IANA_EPHEMERAL_RANGE
    return low, high


@functools.cache
def _candidates() -> tuple[int, ...]:
    """The ports no ephemeral allocation lands on: below the range, and above it."""
    low, high = _ephemeral_range()
    return (*range(_LOWEST_PORT, low), *range(max(high + 1, _LOWEST_PORT), 65536))


def free_port() -> int:
    """A port nothing is bound to, for a server that binds it by itself later.

    Chosen outside the kernel's ephemeral range, not from a bind to port 0: such a port is
    free again once the probe closes, and the next bind to port 0 or outgoing connection in
    any process may take it before the server binds (a proxy started in between once took the
    emulator's port). Each port is handed out once per process, so servers started together
    never get the same one. A machine whose ephemeral range leaves almost nothing outside it
    gets probed ports, with that race.
    """
    candidates = _candidates()
    with _handed_out_lock:
        for _ in range(200):
            port = random.choice(candidates) if len(candidates) >= _FEWEST_CANDIDATES else _probed_port()
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    raise RuntimeError("no free port on 127.0.0.1 after 200 tries")


def _probed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _bindable(port: int) -> bool:
    # Without SO_REUSEADDR: a port a stopped server left in TIME_WAIT is not taken either.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until_answering(
    process: subprocess.Popen[bytes],
    url: str,
    name: str,
    timeout: float,
    stop: Callable[[], None],
    detail: Callable[[], str],
) -> None:
    """Return once ``url`` answers with any HTTP status; fail if ``process`` exits first or time runs out.

    On timeout ``stop()`` is called, so a half-started server is not left behind;
    ``detail()`` (where the log is, or its tail) goes into the error either way.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; {detail()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # an HTTP error is an answer
        except OSError:
            time.sleep(0.05)
    stop()
    raise RuntimeError(f"{name} did not answer within {timeout} s; {detail()}")
