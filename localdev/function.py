"""The function as Cloud Run runs it: ``main.py`` under the functions-framework server."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from localdev.processes import free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger(__name__)


class FunctionProcess:
    """``functions-framework --target process_image`` on 127.0.0.1, its output in a log file.

    functions-framework serves with gunicorn (several threads), so more than one event
    is processed at a time, as on a Cloud Run instance with concurrency > 1.
    """

    def __init__(self, environ: Mapping[str, str], log_path: Path, port: int | None = None) -> None:
        self.environ = dict(environ)
        self.log_path = log_path
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "functions_framework",
                    "--target", "process_image", "--signature-type", "cloudevent",
                    "--source", str(ROOT / "main.py"), "--host", "127.0.0.1", "--port", str(self.port),
                ],
                cwd=ROOT,
                env={**os.environ, **self.environ},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # gunicorn's workers are stopped with it
            )  # fmt: skip
        wait_until_answering(
            self.process, self.url, "functions-framework", timeout, self.stop, lambda: self.output()[-2000:]
        )

    def post(self, headers: dict[str, str], body: bytes, timeout: float = 60) -> int:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON lines written so far; a line still being written (no newline yet) waits."""
        complete = self.output().rpartition("\n")[0]
        return [json.loads(line) for line in complete.splitlines() if line.startswith('{"')]

    def kill(self) -> None:
        """SIGKILL, as an instance that runs out of memory or loses its machine: no clean-up at all."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def memory_bytes(self) -> int:
        """Resident memory of the server and its workers (its process group), 0 when not running."""
        process = self.process  # read once: another thread may kill and restart it meanwhile
        if process is None:
            return 0
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # Field 5 (after the parenthesised command, which may hold spaces) is the group.
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) != process.pid:
                    continue
                status = (stat.parent / "status").read_text()
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


class OutcomeEcho:
    """Follows the function's JSON log and repeats each event's outcome on the console.

    The full lines stay in the log file; a person running ``make run`` sees one short
    line per event (``created``, ``failed`` with its reason, ...).
    """

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="function-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _follow(self) -> None:
        with self.log_path.open("r", encoding="utf-8", errors="replace") as log:
            log.seek(0, os.SEEK_END)
            pending = ""
            while not self._stopping.is_set():
                chunk = log.readline()
                if not chunk:
                    self._stopping.wait(0.1)
                    continue
                pending += chunk
                if pending.endswith("\n"):
                    self._echo(pending)
                    pending = ""

    @staticmethod
    def _echo(line: str) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict) or "outcome" not in record:
            return
        fields = {key: record[key] for key in ("object", "generation", "outcome", "reason") if key in record}
        level = logging.WARNING if record["outcome"] in {"failed", "retry"} else logging.INFO
        logger.log(level, record.get("message", "event"), extra=fields)
