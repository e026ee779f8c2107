"""Result events: one Pub/Sub message when an upload's thumbnails are ready, or when it failed.

"Tell me when my thumbnail is ready" without polling the output bucket. Sent at least
once: the event is acknowledged only after Pub/Sub has the message, so a redelivery may
send it again; consumers key on (bucket, object, generation). Attributes carry what a
subscription filter needs (``event``, ``bucket``, ``object``, ``generation``), the data
the details as JSON.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from thumbnailer import errors
from thumbnailer.events import StorageObjectEvent

if TYPE_CHECKING:
    from google.cloud import pubsub_v1

    from thumbnailer.pipeline import Report  # which calls these: imported for types only

READY = "thumbnails.ready"
FAILED = "thumbnails.failed"


def ready_message(event: StorageObjectEvent, report: Report, output_bucket: str) -> dict[str, Any]:
    return {
        "event": READY,
        "bucket": event.bucket,
        "name": event.name,
        "generation": str(event.generation),
        "source_format": report.source_format,
        "thumbnails": [
            {
                "bucket": output_bucket,
                "name": thumbnail.name,
                "width": thumbnail.width,
                "height": thumbnail.height,
                "bytes": thumbnail.bytes,
                "uri": f"gs://{output_bucket}/{thumbnail.name}",
                "url": f"https://storage.googleapis.com/{output_bucket}/{quote(thumbnail.name)}",
                "thumbhash": thumbnail.thumbhash,
                "color": thumbnail.color,
                **({"moderation": "blurred"} if thumbnail.blurred else {}),
            }
            for thumbnail in report.thumbnails
        ],
        **_vision_fields(report),
    }


def _vision_fields(report: Report) -> dict[str, Any]:
    """Labels and the SafeSearch verdict, when VISION_FEATURES asked for them."""
    annotation = report.annotation
    if annotation is None or not annotation.annotated_at:
        return {}
    fields: dict[str, Any] = {}
    if annotation.labels is not None:
        fields["labels"] = [label._asdict() for label in annotation.labels]
    if annotation.safe_search is not None:
        fields["safe_search"] = {**annotation.safe_search, "flagged": report.flagged}
    if annotation.error is not None:
        fields["vision_error"] = annotation.error
    return fields


def failed_message(event: StorageObjectEvent, error: errors.PermanentError) -> dict[str, Any]:
    return {
        "event": FAILED,
        "bucket": event.bucket,
        "name": event.name,
        "generation": str(event.generation),
        "reason": error.reason,
        "detail": str(error),
    }


class Publisher(Protocol):
    """Where result messages go; ``ResultPublisher`` is the Pub/Sub one."""

    def publish(self, message: dict[str, Any]) -> None: ...


class ResultPublisher:
    """Publishes to one topic; the client is made on first use (google-cloud-pubsub is
    imported only when RESULT_TOPIC is set)."""

    def __init__(self, topic: str, timeout_seconds: float) -> None:
        self._topic = topic
        self._timeout = timeout_seconds
        self._client: pubsub_v1.PublisherClient | None = None
        self._lock = threading.Lock()

    def _publisher(self) -> pubsub_v1.PublisherClient:
        with self._lock:
            if self._client is None:
                from google.cloud import pubsub_v1

                self._client = pubsub_v1.PublisherClient()
            return self._client

    def publish(self, message: dict[str, Any]) -> None:
        attributes = {key: str(message[key]) for key in ("event", "bucket", "generation")}
        attributes["object"] = message["name"]
        data = json.dumps(message, ensure_ascii=False).encode("utf-8")
        try:
            self._publisher().publish(self._topic, data, **attributes).result(timeout=self._timeout)
        except Exception as error:  # any failure to hand the message over: redeliver the event
            raise errors.ResultNotPublished(f"publishing to {self._topic} failed: {error}") from None
