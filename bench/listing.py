"""Backfill over a big listing: peak memory of a dry run at 10,000 and 100,000 objects.

The storage emulator slows down as a bucket grows (410 s to upload 20,000 objects), so
the listings come from ``ListingSource``: an HTTP server on 127.0.0.1 that answers the
JSON API's list requests as Cloud Storage does (pages of 1,000, ``nextPageToken``,
sorted names), made up on the fly. The real command (``python -m thumbnailer backfill
--dry-run``) and the real client walk them; half the uploads have thumbnails, half not.
Peak RSS is the process's VmHWM (bench.peak_probe), above a bare interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bench import measure

INPUT, OUTPUT = "listing-in", "listing-out"
PAGE = 1000
COUNTS = (10_000, 100_000)
ROOT = Path(__file__).resolve().parents[1]


def _upload(index: int) -> dict[str, object]:
    return {"kind": "storage#object", "bucket": INPUT, "name": f"photos/{index:07d}.jpg", "generation": "1",
            "size": "3500000", "contentType": "image/jpeg"}  # fmt: skip


def _thumbnail(index: int) -> dict[str, object]:
    metadata = {"thumbnail-source-bucket": INPUT, "thumbnail-source-object": f"photos/{index:07d}.jpg",
                "thumbnail-source-generation": "1", "thumbnail-width": "200", "thumbnail-height": "200"}  # fmt: skip
    return {"kind": "storage#object", "bucket": OUTPUT, "name": f"photos/{index:07d}.jpg_200x200.jpg",
            "generation": "2", "size": "9000", "contentType": "image/jpeg", "metadata": metadata}  # fmt: skip


class ListingSource:
    """``count`` uploads in INPUT; a thumbnail in OUTPUT for every other one."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pages = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ListingSource:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def page(self, bucket: str, token: str, prefix: str) -> dict[str, object]:
        indexes = range(self.count) if bucket == INPUT else range(0, self.count, 2)
        if not (prefix.startswith("photos/") or "photos/".startswith(prefix)):
            indexes = range(0)  # every name made up here is under photos/
        make = _upload if bucket == INPUT else _thumbnail
        start = int(token or 0)
        chosen = indexes[start : start + PAGE]
        items = [item for item in map(make, chosen) if str(item["name"]).startswith(prefix)]
        self.pages += 1
        page: dict[str, object] = {"kind": "storage#objects", "items": items}
        if start + PAGE < len(indexes):
            page["nextPageToken"] = str(start + PAGE)
        return page

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        source = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                segments = parts.path.split("/")
                query = parse_qs(parts.query)
                if len(segments) == 6 and segments[1:4] == ["storage", "v1", "b"] and segments[5] == "o":
                    body = source.page(segments[4], query.get("pageToken", [""])[0], query.get("prefix", [""])[0])
                    self._send(200, body)
                else:
                    self._send(404, {"error": {"code": 404, "message": "not in this listing source"}})

            def _send(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@dataclass(frozen=True)
class DryRun:
    listed: int
    peak_mib: float  # above a bare interpreter
    seconds: float
    pages: int
    summary: str

    @property
    def ms_per_page(self) -> float:
        return self.seconds * 1000 / self.pages


def dry_run(count: int, bare_kib: float) -> DryRun:
    with ListingSource(count) as source, tempfile.TemporaryDirectory(prefix="thumbnailer-listing-") as folder:
        report = Path(folder) / "peak"
        environ = {"PATH": "/usr/bin:/bin", "STORAGE_EMULATOR_HOST": source.url, "OUTPUT_BUCKET": OUTPUT}
        command = [sys.executable, "-m", "bench.peak_probe", str(report), "-m", "thumbnailer", "backfill",
                   f"gs://{INPUT}", "--dry-run"]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=1800, check=False)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"the dry run failed: {done.stderr}")
        peak_kib = float(report.read_text())
        return DryRun(count, (peak_kib - bare_kib) / 1024, seconds, source.pages, done.stdout.splitlines()[0])


def measure_listing() -> list[DryRun]:
    bare_kib = measure.bare_interpreter_kib()
    return [dry_run(count, bare_kib) for count in COUNTS]


def listing_table(runs: list[DryRun]) -> list[str]:
    small, large = runs
    lines = [
        "| Listed uploads (+ half as many thumbnails) | Peak MiB above a bare interpreter | Wall s | ms per page |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {run.listed:,} | {run.peak_mib:.1f} | {run.seconds:.1f} | {run.ms_per_page:.1f} |" for run in runs]
    lines += ["", f"100,000 against 10,000: {large.peak_mib / small.peak_mib:.2f}x the peak (target: within 20%)."]
    return lines


if __name__ == "__main__":
    measured = measure_listing()
    sys.stdout.write("\n".join(listing_table(measured)) + "\n")
    for run in measured:
        sys.stdout.write(run.summary + "\n")
