"""Helpers of the integration tests: uploads and listings on the emulator, a function
stand-in that fails on purpose, notifications as Cloud Storage publishes them."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.cloud import storage
from PIL import Image

from localdev.eventarc import Notification
from localdev.function import ROOT
from localdev.pubsub import PubSubEmulator, subscriber_client
from tests.events import EVENTARC_DATA
from tests.images import encode, photo_like

JPEG = encode(photo_like(1200, 900), "JPEG", quality=90)


def upload(client: storage.Client, bucket: str, name: str, data: bytes, content_type: str = "image/jpeg") -> int:
    blob = client.bucket(bucket).blob(name)
    blob.upload_from_string(data, content_type=content_type)
    assert blob.generation is not None
    return int(blob.generation)


def upload_many(bucket: storage.Bucket, names: list[str], data_for: Callable[[int], bytes]) -> None:
    """``names[i]`` with ``data_for(i)``, eight at a time."""

    def one(index: int) -> None:
        bucket.blob(names[index]).upload_from_string(data_for(index), content_type="image/jpeg")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(len(names))))


def start_backfill(
    storage_url: str, output_bucket: str, input_bucket: str, *arguments: str, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """``python -m thumbnailer backfill`` as its own process, as a user (or a Cloud Run task)
    runs it: only the storage address and the settings come from the environment."""
    environ = {
        "PATH": os.environ["PATH"],
        "STORAGE_EMULATOR_HOST": storage_url,
        "OUTPUT_BUCKET": output_bucket,
        "STORAGE_RETRY_SECONDS": "5",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "thumbnailer", "backfill", f"gs://{input_bucket}", *arguments],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_placeholders(thumbhash: str, color: str) -> None:
    """A ThumbHash (base64 of its 5-25 bytes) and a ``#rrggbb`` colour, as every thumbnail carries."""
    assert 5 <= len(base64.b64decode(thumbhash, validate=True)) <= 25, thumbhash
    assert re.fullmatch(r"#[0-9a-f]{6}", color), color


def object_names(client: storage.Client, bucket: str) -> list[str]:
    return sorted(blob.name for blob in client.list_blobs(bucket))


def thumbnail(client: storage.Client, bucket: str, name: str) -> tuple[storage.Blob, Image.Image]:
    blob = client.bucket(bucket).get_blob(name)
    assert blob is not None, f"no {name} in {object_names(client, bucket)}"
    image = Image.open(io.BytesIO(blob.download_as_bytes()))
    image.load()
    return blob, image


class FlakyFunction:
    """Answers the first ``failures`` requests with 500, then 204; records every request."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        function = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                function.requests.append((dict(self.headers.items()), body))
                failing = len(function.requests) <= function.failures
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    @property
    def processed(self) -> int:
        return len(self.requests) - min(self.failures, len(self.requests))


def notification(resource: Mapping[str, object] | None = None, message_id: str = "4242") -> Notification:
    resource = resource or EVENTARC_DATA
    return Notification(
        message_id=message_id,
        attributes={
            "eventType": "OBJECT_FINALIZE",
            "bucketId": str(resource["bucket"]),
            "objectId": str(resource["name"]),
            "objectGeneration": str(resource["generation"]),
            "payloadFormat": "JSON_API_V1",
            "eventTime": "2026-05-01T17:41:52.830639Z",
        },
        data=json.dumps(resource).encode(),
    )


def received(emulator: PubSubEmulator, subscription: str, count: int) -> list[tuple[dict[str, str], Any]]:
    subscriber = subscriber_client(emulator.host)
    messages: list[tuple[dict[str, str], Any]] = []
    deadline = time.monotonic() + 20
    while len(messages) < count and time.monotonic() < deadline:
        response = subscriber.pull(request={"subscription": subscription, "max_messages": 10}, timeout=5)
        for message in response.received_messages:
            messages.append((dict(message.message.attributes), json.loads(message.message.data)))
        if response.received_messages:
            subscriber.acknowledge(
                request={"subscription": subscription, "ack_ids": [m.ack_id for m in response.received_messages]}
            )
    return messages
