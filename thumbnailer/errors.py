"""The error hierarchy: every failure is either permanent (acknowledge) or transient (retry).

One place, ``thumbnailer.handler``, turns these into an HTTP answer: a permanent
error is logged and acknowledged, so Eventarc never redelivers an event that can
only fail again; a transient error is raised, so Eventarc redelivers it with backoff.
"""

import logging
from typing import ClassVar

from thumbnailer.outcomes import Outcome


class ThumbnailerError(Exception):
    """Base class. Each error says, by its class, how the event ends and how loudly."""

    #: A stable machine-readable code, in logs, records and result messages.
    reason: ClassVar[str] = "error"
    outcome: ClassVar[Outcome] = Outcome.RETRY
    level: ClassVar[int] = logging.ERROR
    #: Whether the failure is worth a failure record in the output bucket.
    recorded: ClassVar[bool] = False
    #: What the decoders said about the image before it failed (diagnostics.py).
    warnings: tuple[str, ...] = ()


class PermanentError(ThumbnailerError):
    """Retrying cannot help: acknowledge the event, write no thumbnail."""

    outcome = Outcome.FAILED
    level = logging.WARNING
    recorded = True


class Skipped(PermanentError):
    """Not a failure: nothing to do for this event (logged at INFO, never recorded)."""

    outcome = Outcome.SKIPPED
    level = logging.INFO
    recorded = False


class IgnoredEvent(Skipped):
    """Not ours to process: another event type, or the function's own output (loop guard)."""

    reason = "ignored_event"


class MalformedEvent(PermanentError):
    """The event lacks a bucket, name or generation, or its data is not a JSON object."""

    reason = "malformed_event"
    recorded = False


class EmptyObject(PermanentError):
    reason = "empty_object"


class InputTooLarge(PermanentError):
    reason = "input_too_large"


class NotAnImage(PermanentError):
    reason = "not_an_image"


class UnsupportedVariant(PermanentError):
    """An image in a supported format, but of a kind no decoder here reads (a 12-bit JPEG)."""

    reason = "unsupported_variant"


class CorruptImage(PermanentError):
    reason = "corrupt_image"


class TooManyPixels(PermanentError):
    """A decompression bomb, or simply an image bigger than the configured pixel limit."""

    reason = "too_many_pixels"


class OutputNameTooLong(PermanentError):
    reason = "output_name_too_long"


class OutputNameTaken(PermanentError):
    """The thumbnail's name holds another upload's thumbnail (a custom OUTPUT_NAME that
    lets two sources meet): never overwrite it."""

    reason = "output_name_taken"


class Moderated(PermanentError):
    """MODERATION=withhold, and SafeSearch flagged the upload: no thumbnail, on purpose."""

    reason = "moderated"
    level = logging.INFO


class StorageRejected(PermanentError):
    """Cloud Storage refused a request for a reason a retry will not change (HTTP 400, 413...)."""

    reason = "storage_rejected"


class GaveUp(PermanentError):
    """The event kept failing for a transient or unexpected reason past MAX_RETRY_AGE: it is
    acknowledged once this is on record, and backfill redoes it."""

    reason = "gave_up"
    level = logging.ERROR


class SourceUnavailable(Skipped):
    """The event's generation can no longer be read; not the image's fault, so not recorded."""


class ObjectGone(SourceUnavailable):
    reason = "object_gone"


class ObjectReplaced(SourceUnavailable):
    """A newer generation replaced the one in the event; its own event will make the thumbnail."""

    reason = "object_replaced"


class TransientError(ThumbnailerError):
    """Worth another try: raise so Eventarc redelivers the event (until MAX_RETRY_AGE)."""


class StorageUnavailable(TransientError):
    """429, 5xx, timeouts or connection errors after the client's own retries were spent."""

    reason = "storage_unavailable"


class StorageMisconfigured(TransientError):
    """401/403 or a missing output bucket: a deployment mistake. Retrying lets the events
    through once it is fixed, within Eventarc's retry window."""

    reason = "storage_misconfigured"


class VisionUnavailable(TransientError):
    """Cloud Vision answered 429, 5xx, 401/403 (an API not enabled yet) or not at all, past
    VISION_RETRY_SECONDS; a redelivery finds the thumbnails written and asks again."""

    reason = "vision_unavailable"


class OutOfMemory(TransientError):
    """The instance ran out of memory, possibly because of concurrent requests."""

    reason = "out_of_memory"


class ResultNotPublished(TransientError):
    """RESULT_TOPIC is set and the message could not be published: retry the whole event
    (its thumbnails are found written, so only the message is sent again)."""

    reason = "result_not_published"
