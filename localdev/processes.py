"""What every child process of the local pipeline needs: a free port, and a wait until it answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
