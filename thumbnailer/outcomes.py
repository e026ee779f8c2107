"""How an upload's processing ended: the one set of names the log lines, result messages,
failure records and backfill's summary use."""

import enum


class Outcome(enum.StrEnum):
    # Its thumbnails are there:
    CREATED = "created"  # new thumbnails
    REPLACED = "replaced"  # over an older generation's thumbnails
    DUPLICATE = "duplicate"  # this generation's thumbnails were there already: a redelivery
    SUPERSEDED = "superseded"  # a newer generation's thumbnails are there: a stale event
    # It has none:
    SKIPPED = "skipped"  # not ours to process (another event type, the function's own output, gone)
    FAILED = "failed"  # the file's fault, or given up on: acknowledged, on record
    RETRY = "retry"  # transient, or a bug: raised for Eventarc to redeliver
    # Its generation was deleted (DELETE_THUMBNAILS_WITH_SOURCE):
    REMOVED = "removed"  # what was made of it is gone too

    @property
    def done(self) -> bool:
        """Whether the upload's thumbnails are in place (made now or before)."""
        return self in (Outcome.CREATED, Outcome.REPLACED, Outcome.DUPLICATE, Outcome.SUPERSEDED)
