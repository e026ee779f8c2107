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
from typing import Any, Protocol

from thumbnailer import errors
from thumbnailer.config import Settings
from thumbnailer.events import parse_event
from thumbnailer.logs import configure_logging, loggable
from thumbnailer.pipeline import WriteOutcome, delete_source_if_asked, process_event
from thumbnailer.results import ResultPublisher, failed_message, ready_message
from thumbnailer.storage import CloudStorage, ObjectStore

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
    def __init__(self, settings: Settings, store: ObjectStore, results: ResultPublisher | None = None) -> None:
        self.settings = settings
        self.store = store
        self.results = results

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
        return cls(settings, store, results)

    def __call__(self, cloud_event: CloudEventLike) -> None:
        self.handle(cloud_event.get_attributes(), cloud_event.get_data())

    def handle(self, attributes: Mapping[str, Any], data: Any) -> None:
        started = time.monotonic()
        context = _raw_context(attributes, data)

        def log(level: int, message: str, *, exc_info: bool = False, **fields: Any) -> None:
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            logger.log(level, message, exc_info=exc_info, extra={**context, **fields, "duration_ms": duration_ms})

        try:
            event = parse_event(attributes, data)
            context.update(bucket=event.bucket, object=event.name, generation=str(event.generation))
            try:
                report = process_event(event, self.settings, self.store)
            except errors.PermanentError as failure:
                ignored = isinstance(failure, (errors.IgnoredEvent, errors.SourceUnavailable))
                if self.results and not ignored:
                    self.results.publish(failed_message(event, failure))
                raise
            if self.results and report.outcome != WriteOutcome.SUPERSEDED:  # a stale event has nothing to tell
                self.results.publish(ready_message(event, report, self.settings.output_bucket))
            report = delete_source_if_asked(event, report, self.settings, self.store)
        except errors.PermanentError as error:
            ignored = isinstance(error, (errors.IgnoredEvent, errors.SourceUnavailable))
            log(
                logging.INFO if ignored else logging.WARNING,
                f"{'skipped' if ignored else 'failed'}: {error}",
                outcome="skipped" if ignored else "failed",
                reason=error.reason,
            )
            return
        except errors.TransientError as error:
            log(logging.ERROR, f"will retry: {error}", outcome="retry", reason=error.reason)
            raise
        except Exception:
            log(logging.ERROR, "unexpected error; will retry", outcome="retry", reason="internal_error", exc_info=True)
            raise
        log(
            logging.INFO,
            f"{report.outcome}: {len(report.thumbnails)} thumbnail(s)",
            outcome=report.outcome,
            source_format=report.source_format,
            bytes_in=report.bytes_in,
            bytes_out=report.bytes_out,
            source_deleted=report.source_deleted,
            thumbnails=[
                {"name": t.name, "width": t.width, "height": t.height, "bytes": t.bytes, "outcome": t.outcome.value}
                for t in report.thumbnails
            ],
        )
