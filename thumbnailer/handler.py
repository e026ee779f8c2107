"""The error boundary: one CloudEvent in, an acknowledgement or a raised error out.

Permanent failures are logged and acknowledged (the function returns, so
functions-framework answers 200 and Eventarc forgets the event); transient ones are
logged and raised (functions-framework answers 500 and Eventarc redelivers with
backoff). Every outcome is one JSON log line with the bucket, object, generation
and event id.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from thumbnailer import errors
from thumbnailer.config import Settings
from thumbnailer.events import StorageObjectEvent, parse_event
from thumbnailer.logs import configure_logging, loggable
from thumbnailer.outcomes import Outcome
from thumbnailer.pipeline import Report, VisionCall, give_up, process_upload
from thumbnailer.removal import remove_deleted_generation
from thumbnailer.results import Publisher, ResultPublisher
from thumbnailer.storage import CloudStorage, ObjectStore
from thumbnailer.vision import Annotator, VisionApi

logger = logging.getLogger(__name__)


class CloudEventLike(Protocol):
    def get_attributes(self) -> Mapping[str, Any]: ...

    def get_data(self) -> Any: ...


def _raw_context(attributes: Mapping[str, Any], data: Any) -> dict[str, Any]:
    """Log fields taken before validation, so even a malformed event's line says what it was."""
    fields = data if isinstance(data, Mapping) else {}
    # Bounded: a forged or malformed event's values may be anything, of any size.
    return {
        "event_id": loggable(attributes.get("id")),
        "event_type": loggable(attributes.get("type")),
        "bucket": loggable(fields.get("bucket")),
        "object": loggable(fields.get("name")),
        "generation": loggable(fields.get("generation")),
    }


class EventHandler:
    def __init__(
        self,
        settings: Settings,
        store: ObjectStore,
        results: Publisher | None = None,
        annotator: Annotator | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.results = results
        self.annotator = annotator

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> EventHandler:
        """Cold start: read and check every setting now, so a bad value fails the deploy."""
        settings = Settings.from_environ(os.environ if environ is None else environ)
        configure_logging(settings.log_level)
        store = CloudStorage(
            retry_seconds=settings.storage_retry_seconds, timeout_seconds=settings.storage_timeout_seconds
        )
        results = (
            ResultPublisher(settings.result_topic, settings.storage_timeout_seconds) if settings.result_topic else None
        )
        annotator = VisionApi.from_settings(settings) if settings.vision_features else None
        return cls(settings, store, results, annotator)

    def __call__(self, cloud_event: CloudEventLike) -> None:
        self.handle(cloud_event.get_attributes(), cloud_event.get_data())

    def handle(self, attributes: Mapping[str, Any], data: Any) -> None:
        started = time.monotonic()
        context = _raw_context(attributes, data)
        event: StorageObjectEvent | None = None

        def log(level: int, message: str, *, exc_info: bool = False, **fields: Any) -> None:
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            logger.log(level, message, exc_info=exc_info, extra={**context, **fields, "duration_ms": duration_ms})

        try:
            event = parse_event(attributes, data)
            context.update(bucket=event.bucket, object=event.name, generation=str(event.generation))
            if event.deleted:
                removal = remove_deleted_generation(event, self.settings, self.store)
            else:
                report = process_upload(event, self.settings, self.store, self.results, self.annotator)
        except errors.PermanentError as error:
            log(
                error.level, f"{error.outcome}: {error}", outcome=error.outcome, reason=error.reason, **_warnings(error)
            )
            return
        except Exception as error:  # transient, or a bug: Eventarc redelivers, unless retried too long
            transient = isinstance(error, errors.TransientError)
            reason = error.reason if isinstance(error, errors.TransientError) else "internal_error"
            said = f"{error}" if transient else f"unexpected error: {type(error).__name__}: {error}"
            fields = {"reason": reason, **_warnings(error)}
            if event is None or not self._retried_too_long(event):
                log(logging.ERROR, f"will retry: {said}", outcome=Outcome.RETRY, exc_info=not transient, **fields)
                raise
            age = format_duration(self.settings.max_retry_age_seconds)
            failure = errors.GaveUp(f"still failing after MAX_RETRY_AGE ({age}) of retries: {reason}: {said}")
            try:
                give_up(event, failure, self.settings, self.store, self.results)
            except Exception as record_error:
                message = f"will retry: {said}; giving up was not possible either: {record_error}"
                log(logging.ERROR, message, outcome=Outcome.RETRY, exc_info=not transient, **fields)
                raise error from record_error
            message = f"gave up after retrying past MAX_RETRY_AGE: {said}"
            fields.update(reason=failure.reason, last_reason=reason)
            log(failure.level, message, outcome=failure.outcome, exc_info=not transient, **fields)
            return
        if event.deleted:
            said = f"{len(removal.removed)} object(s) made from the deleted generation"
            log(logging.INFO, f"{Outcome.REMOVED}: {said}", outcome=Outcome.REMOVED, removed=list(removal.removed))
            return
        log(
            logging.INFO,
            f"{report.outcome}: {len(report.thumbnails)} thumbnail(s)",
            outcome=report.outcome,
            source_format=report.source_format,
            bytes_in=report.bytes_in,
            bytes_out=report.bytes_out,
            source_deleted=report.source_deleted,
            thumbnails=[
                {"name": t.name, "width": t.width, "height": t.height, "bytes": t.bytes, "outcome": t.outcome}
                for t in report.thumbnails
            ],
            **_warnings(report),
            **_vision(report),
        )

    def _retried_too_long(self, event: StorageObjectEvent) -> bool:
        """Google's end condition for retried event functions: an age past which a failure
        is final. An event without a usable time is retried until Eventarc stops (24 h)."""
        if event.time is None:
            return False
        age = (datetime.now(UTC) - event.time).total_seconds()
        return age > self.settings.max_retry_age_seconds


def _warnings(said: object) -> dict[str, Any]:
    """The log field for what the decoders said (a report's or an error's ``warnings``),
    present only when they said something."""
    warnings = getattr(said, "warnings", ())
    return {"warnings": list(warnings)} if warnings else {}


def _vision(report: Report) -> dict[str, Any]:
    """The log fields of the Vision step: how its answer was had, and what it said."""
    if report.vision is None:
        return {}
    fields: dict[str, Any] = {"vision": report.vision}
    annotation = report.annotation
    if annotation is not None and annotation.labels is not None:
        fields["labels"] = [label.description for label in annotation.labels]
    if report.flagged is not None:
        fields["flagged"] = report.flagged
    if annotation is not None and annotation.error:
        fields["vision_error"] = annotation.error
    if report.vision is VisionCall.CALLED and annotation is not None:
        fields["vision_ms"] = annotation.latency_ms
    return fields


def format_duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
