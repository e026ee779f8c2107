"""The upload page and gallery of the local pipeline, on 127.0.0.1.

The browser never talks to the emulator: uploads go through this server, which writes
them to the input bucket with the Cloud Storage client exactly as any other client
would, so the pipeline sees an ordinary upload. The gallery lists each object of the
input bucket with what the function made of its live generation: thumbnails, its labels
record (``labels/NAME.json``), a failure record (``failed/NAME.json``) or a local-Eventarc
dead letter.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from flask import Flask, Response, abort, jsonify, request
from google.api_core import exceptions
from google.cloud import storage
from werkzeug.serving import BaseWSGIServer, make_server

from localdev.dashboard import summarize
from thumbnailer.pipeline import SOURCE_GENERATION_KEY, SOURCE_OBJECT_KEY

logger = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("static") / "index.html"
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


@dataclass
class Gallery:
    """What the page shows, read from the buckets and the dead-letter folder."""

    client: storage.Client
    input_bucket: str
    output_bucket: str
    failure_prefix: str
    dead_letter_dir: Path
    labels_prefix: str = "labels/"
    function_log: Path | None = None  # the function's JSON lines, for the dashboard
    _records: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, blob: storage.Blob) -> dict[str, Any]:
        key = (blob.name, blob.generation or 0)
        with self._lock:
            cached = self._records.get(key)
        if cached is None:
            try:
                cached = json.loads(blob.download_as_bytes(if_generation_match=blob.generation))
            except (exceptions.GoogleAPIError, ValueError):
                cached = {
                    "reason": "unreadable-record",
                    "detail": f"could not read gs://{self.output_bucket}/{blob.name}",
                }
            with self._lock:
                self._records[key] = cached
        return cached

    def _dead_letters(self) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted(self.dead_letter_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text("utf-8"))
                data = record["event"]["data"]
                found[(str(data["name"]), str(data["generation"]))] = {
                    "reason": "dead-lettered",
                    "detail": f"{record['attempts']} delivery attempts failed; last: "
                    f"{record.get('last_status')} {record.get('last_error', '')}"[:500],
                    "record": str(path),
                }
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not an event record (e.g. an unusable notification)
        return found

    def items(self) -> list[dict[str, Any]]:
        results: dict[tuple[str, str], dict[str, Any]] = {}
        for blob in self.client.list_blobs(self.output_bucket):
            metadata = blob.metadata or {}
            source = metadata.get(SOURCE_OBJECT_KEY)
            generation = metadata.get(SOURCE_GENERATION_KEY)
            if source is None or generation is None:
                continue
            entry = results.setdefault((source, generation), {"thumbnails": [], "failure": None, "labels": None})
            if self.failure_prefix and blob.name.startswith(self.failure_prefix) and blob.name.endswith(".json"):
                record = self._record(blob)
                entry["failure"] = {"reason": record.get("reason"), "detail": record.get("detail")}
            elif self.labels_prefix and blob.name.startswith(self.labels_prefix) and blob.name.endswith(".json"):
                record = self._record(blob)
                entry["labels"] = {key: record.get(key) for key in ("labels", "safe_search", "flagged", "error")}
            else:
                entry["thumbnails"].append({"name": blob.name, "size": blob.size, "url": f"/thumbnails/{blob.name}"})
        dead_letters = self._dead_letters()
        items = []
        for blob in self.client.list_blobs(self.input_bucket):
            if blob.name.endswith("/"):
                continue
            key = (blob.name, str(blob.generation))
            entry = results.get(key, {"thumbnails": [], "failure": None, "labels": None})
            failure = entry["failure"] or dead_letters.get(key)
            status = "failed" if failure else "done" if entry["thumbnails"] else "pending"
            items.append(
                {
                    "name": blob.name,
                    "generation": str(blob.generation),
                    "size": blob.size,
                    "updated": blob.updated.isoformat() if blob.updated else None,
                    "status": status,
                    "thumbnails": sorted(entry["thumbnails"], key=lambda thumbnail: thumbnail["name"]),
                    "failure": failure,
                    "labels": entry["labels"],
                }
            )
        items.sort(key=lambda item: item["updated"] or "", reverse=True)
        return items


def upload_name(filename: str) -> str:
    """The object name for a browser upload: the file's own name, without any folder part."""
    name = PurePosixPath(filename.replace("\\", "/")).name.strip()
    if not name or name in {".", ".."}:
        raise ValueError("the file has no name")
    return name


def create_app(gallery: Gallery) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES

    @app.get("/")
    def index() -> Response:
        return Response(PAGE.read_bytes(), mimetype="text/html")

    @app.post("/api/uploads")
    def upload() -> tuple[Response, int]:
        files = request.files.getlist("file")
        if not files:
            return jsonify(error="no file in the form field 'file'"), 400
        uploaded = []
        for file in files:
            try:
                name = upload_name(file.filename or "")
            except ValueError as error:
                return jsonify(error=str(error)), 400
            blob = gallery.client.bucket(gallery.input_bucket).blob(name)
            blob.upload_from_file(file.stream, content_type=file.mimetype or "application/octet-stream")
            logger.info("uploaded", extra={"bucket": gallery.input_bucket, "object": name, "via": "web page"})
            uploaded.append({"name": name, "generation": str(blob.generation)})
        return jsonify(uploaded=uploaded), 201

    @app.get("/api/gallery")
    def items() -> Response:
        return jsonify(input_bucket=gallery.input_bucket, output_bucket=gallery.output_bucket, items=gallery.items())

    @app.get("/api/dashboard")
    def dashboard() -> Response:
        records: list[dict[str, Any]] = []
        if gallery.function_log is not None and gallery.function_log.exists():
            complete = gallery.function_log.read_text(errors="replace").rpartition("\n")[0]
            for line in complete.splitlines():
                if line.startswith('{"') and '"outcome"' in line:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        continue  # not ours: the function writes one JSON object per line
        dead_letters = len(list(gallery.dead_letter_dir.glob("*.json"))) if gallery.dead_letter_dir.exists() else 0
        return jsonify(summarize(records, time.time(), dead_letters=dead_letters))

    @app.get("/thumbnails/<path:name>")
    def thumbnail(name: str) -> Response:
        blob = gallery.client.bucket(gallery.output_bucket).get_blob(name)
        if blob is None:
            abort(404)
        return Response(blob.download_as_bytes(), mimetype=blob.content_type, headers={"Cache-Control": "no-cache"})

    return app


class WebServer:
    """The Flask app on werkzeug's threaded server, in a background thread."""

    def __init__(self, app: Flask, port: int) -> None:
        self._server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="web", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
