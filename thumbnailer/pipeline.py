"""One upload, from end to end: guard, read, render, (moderate,) write, label, publish, delete.

``process_upload`` owns those steps, for the function (``handler.py``, which keeps the
parsing, the one mapping from errors to acknowledge or retry, and the log line) and for
backfill alike; storage and the result publisher are passed in.

Idempotent by construction: thumbnails are written create-only, and a name that is
already taken is resolved by the source generation recorded in its metadata, so a
duplicate delivery writes nothing, a newer upload replaces an older upload's
thumbnail, and a stale event never overwrites a newer thumbnail. Labels records are
written the same way, and looked up first: Vision is asked once per generation.
"""

from __future__ import annotations

import contextlib
import enum
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from urllib.parse import quote

from thumbnailer import errors
from thumbnailer.config import Settings
from thumbnailer.domain import Moderation, Size, VisionFeature
from thumbnailer.events import StorageObjectEvent
from thumbnailer.fingerprints import settings_fingerprint
from thumbnailer.imaging import Thumbnail, blurred, check_input_size, possible_extensions, render_thumbnails
from thumbnailer.naming import record_name, thumbnail_name, thumbnail_names
from thumbnailer.outcomes import Outcome
from thumbnailer.results import Publisher, failed_message, ready_message
from thumbnailer.storage import NewObject, ObjectStore, StoredObject, WriteConflict
from thumbnailer.vision import ANALYSIS_SIDE, Annotation, Annotator, VisionRequest

# Custom metadata on everything the function writes. Its presence also marks an
# object as the function's own output (the loop guard).
SOURCE_BUCKET_KEY = "thumbnail-source-bucket"
SOURCE_OBJECT_KEY = "thumbnail-source-object"
SOURCE_GENERATION_KEY = "thumbnail-source-generation"
WIDTH_KEY = "thumbnail-width"
HEIGHT_KEY = "thumbnail-height"
# On failure records: why, so a bucket listing tells a bad file from a give-up (backfill).
FAILURE_REASON_KEY = "thumbnail-failure-reason"
# Placeholders, for a page to show while the thumbnail loads.
THUMBHASH_KEY = "thumbnail-thumbhash"
COLOR_KEY = "thumbnail-color"
# "blurred": MODERATION=blur made this thumbnail from a flagged upload.
MODERATION_KEY = "thumbnail-moderation"
# The fingerprint of the settings that made a thumbnail (fingerprints.py): backfill --regenerate.
SETTINGS_KEY = "thumbnail-settings"


@dataclass(frozen=True)
class WrittenThumbnail:
    name: str
    width: int
    height: int
    bytes: int
    outcome: Outcome  # created, replaced, duplicate or superseded
    thumbhash: str = ""
    color: str = ""
    blurred: bool = False


class VisionCall(enum.StrEnum):
    """How an upload's labels were had (the log line's ``vision`` field)."""

    CALLED = "called"  # asked Vision now
    RECORDED = "recorded"  # this generation's labels record was there: Vision not asked again
    SUPERSEDED = "superseded"  # a newer generation's record is there: a stale event asks nothing


@dataclass(frozen=True)
class Report:
    source_format: str
    bytes_in: int
    thumbnails: tuple[WrittenThumbnail, ...]
    source_deleted: bool = False
    warnings: tuple[str, ...] = ()  # what the decoders said about the file
    annotation: Annotation | None = None  # Vision's answer (VISION_FEATURES), from now or its record
    vision: VisionCall | None = None
    flagged: bool | None = None  # SafeSearch's verdict at MODERATION_LIKELIHOOD; None: no verdict

    @property
    def bytes_out(self) -> int:
        return sum(t.bytes for t in self.thumbnails if t.outcome in (Outcome.CREATED, Outcome.REPLACED))

    @property
    def outcome(self) -> Outcome:
        outcomes = {t.outcome for t in self.thumbnails}
        for outcome in (Outcome.CREATED, Outcome.REPLACED, Outcome.SUPERSEDED):
            if outcome in outcomes:
                return outcome
        return Outcome.DUPLICATE


def check_not_own_output(event: StorageObjectEvent, settings: Settings) -> None:
    """The loop guard: never process a thumbnail or failure record this function wrote."""
    if SOURCE_OBJECT_KEY in event.metadata:
        raise errors.IgnoredEvent("the object was written by this function (it has thumbnail-source metadata)")
    if event.bucket == settings.output_bucket:
        for prefix in (settings.output_prefix, settings.failure_prefix, settings.labels_prefix):
            if prefix and event.name.startswith(prefix):
                raise errors.IgnoredEvent(f"the object is under the output folder {prefix!r} of this bucket")


def check_selected(name: str, settings: Settings) -> None:
    """INCLUDE_PATTERNS and EXCLUDE_PATTERNS: which uploads are processed at all."""
    if settings.include_patterns and not any(fnmatchcase(name, p) for p in settings.include_patterns):
        raise errors.IgnoredEvent("the name matches none of INCLUDE_PATTERNS")
    for pattern in settings.exclude_patterns:
        if fnmatchcase(name, pattern):
            raise errors.IgnoredEvent(f"the name matches {pattern!r} in EXCLUDE_PATTERNS")


def process_upload(
    event: StorageObjectEvent,
    settings: Settings,
    store: ObjectStore,
    results: Publisher | None = None,
    annotator: Annotator | None = None,
) -> Report:
    """Every step of one upload: guard, read, render, (moderate,) write, label, publish, delete.

    ``results``: the RESULT_TOPIC publisher, or None to publish nothing (backfill passes
    None: a bulk job over old uploads should not flood the topic's subscribers).
    ``annotator``: Cloud Vision, used when VISION_FEATURES asks for it. Raises
    ThumbnailerError subclasses; a permanent failure is on record and published first.
    """
    check_not_own_output(event, settings)
    check_selected(event.name, settings)
    if event.name.endswith("/"):
        raise errors.IgnoredEvent("a folder placeholder, not a file")
    vision: _Labelling | None = None
    try:
        try:
            if settings.vision_features and annotator:
                vision = _Labelling(event, settings, store, annotator)  # its record's name is checked here
            if event.size is not None:
                check_input_size(event.size, settings.imaging)
            known = vision.recorded() if vision else None
            data = store.read(event.bucket, event.name, event.generation)
            asking = vision is not None and known is None
            rendering = render_thumbnails(data, settings.imaging, analysis_side=ANALYSIS_SIDE if asking else None)
            names = [
                thumbnail_name(event.name, size, thumbnail.extension, settings.output_prefix, settings.output_name)
                for size, thumbnail in zip(settings.imaging.sizes, rendering.thumbnails, strict=True)
            ]
            thumbnails = rendering.thumbnails
            annotation = known
            if vision and settings.moderation in (Moderation.BLUR, Moderation.WITHHOLD):
                # The verdict decides what is written: Vision first (a transient error
                # retries before anything is written).
                if annotation is None:
                    annotation = vision.ask(rendering.analysis)
                if vision.flagged(annotation):
                    if settings.moderation is Moderation.WITHHOLD:
                        if known is None:
                            vision.record(annotation)
                        raise errors.Moderated("SafeSearch flagged the image; MODERATION=withhold writes no thumbnail")
                    thumbnails = tuple(blurred(t, settings.imaging.quality_for(size)) for t, size in
                                       zip(thumbnails, settings.imaging.sizes, strict=True))  # fmt: skip
        except errors.PermanentError as error:
            if error.recorded:
                record_failure(event, error, settings, store)
            raise
        written = tuple(
            _write_thumbnail(event, name, size, thumbnail, settings, store, thumbnail is not original)
            for name, size, thumbnail, original in zip(
                names, settings.imaging.sizes, thumbnails, rendering.thumbnails, strict=True
            )
        )
        if vision and annotation is None:  # thumbnails never wait for Vision, except to moderate
            annotation = vision.ask(rendering.analysis)
        if vision and annotation is not None and known is None:
            vision.record(annotation)
        if not any(t.outcome is Outcome.SUPERSEDED for t in written):
            _remove_older_leftovers(event, settings, store, written)
    except errors.PermanentError as error:
        if results and error.outcome is Outcome.FAILED:
            results.publish(failed_message(event, error))
        raise
    report = Report(rendering.source_format, len(data), written, warnings=rendering.warnings)
    if vision:
        how = VisionCall.CALLED if known is None else vision.known_as
        report = replace(report, annotation=annotation, vision=how, flagged=vision.flagged(annotation))
    if results and report.outcome is not Outcome.SUPERSEDED:  # a stale event has nothing to tell
        results.publish(ready_message(event, report, settings.output_bucket))
    return _delete_source_if_asked(event, report, settings, store)


class _Labelling:
    """The labels record of one upload: looked up before Vision is asked, written once."""

    def __init__(self, event: StorageObjectEvent, settings: Settings, store: ObjectStore, annotator: Annotator):
        self.event, self.settings, self.store, self.annotator = event, settings, store, annotator
        self.name = record_name(event.name, settings.labels_prefix)
        self.known_as = VisionCall.RECORDED

    def recorded(self) -> Annotation | None:
        """This generation's recorded answer; for a stale event (a newer generation's record
        is there) an empty one, so Vision is not asked for what nobody will see."""
        bucket = self.settings.output_bucket
        existing = self.store.stat(bucket, self.name)
        if existing is None or existing.metadata.get(SOURCE_OBJECT_KEY) != self.event.name:
            return None
        their_generation = existing.metadata.get(SOURCE_GENERATION_KEY, "")
        if not their_generation.isdigit() or int(their_generation) < self.event.generation:
            return None
        if int(their_generation) > self.event.generation:
            if self.settings.moderation in (Moderation.BLUR, Moderation.WITHHOLD):
                # Unmoderated old pixels must not be written past the newer upload's verdict.
                raise errors.ObjectReplaced("a newer generation of the object has been moderated already")
            self.known_as = VisionCall.SUPERSEDED
            return Annotation()
        try:
            record = json.loads(self.store.read(bucket, self.name, existing.generation))
        except (errors.SourceUnavailable, ValueError):
            return None  # replaced or unreadable meanwhile: ask again, the write decides
        if not isinstance(record, dict):
            return None
        known = Annotation.from_record(record)
        # Made under other VISION_FEATURES (safe-search added since): ask again for all of them.
        missing_labels = VisionFeature.LABELS in self.settings.vision_features and known.labels is None
        missing_verdict = VisionFeature.SAFE_SEARCH in self.settings.vision_features and known.safe_search is None
        if known.error is None and (missing_labels or missing_verdict):
            return None
        return known

    def ask(self, analysis: bytes | None) -> Annotation:
        assert analysis is not None  # rendered whenever there is no record
        request = VisionRequest(
            self.settings.vision_features, self.settings.vision_max_labels, self.settings.vision_min_score
        )
        return self.annotator.annotate(analysis, request)

    def flagged(self, annotation: Annotation | None) -> bool | None:
        """The verdict; under blur and withhold an image Vision refused counts as flagged
        (fail closed: nothing unchecked is shown)."""
        if annotation is None or self.known_as is VisionCall.SUPERSEDED:
            return None
        verdict = annotation.flagged(self.settings.moderation_likelihood)
        if verdict is None and self.settings.moderation in (Moderation.BLUR, Moderation.WITHHOLD):
            return True  # no verdict (refused, or not given): nothing unchecked is shown
        return verdict

    def record(self, annotation: Annotation) -> None:
        record = {
            "bucket": self.event.bucket,
            "name": self.event.name,
            "generation": str(self.event.generation),
            **annotation.as_record(),
        }
        if annotation.safe_search is not None or self.settings.moderation is not Moderation.OFF:
            record["flagged"] = self.flagged(annotation)  # what the pipeline acted on
            record["moderation_likelihood"] = self.settings.moderation_likelihood.name
        _write_record(self.event, self.name, record, {}, self.settings, self.store)


def give_up(
    event: StorageObjectEvent,
    failure: errors.GaveUp,
    settings: Settings,
    store: ObjectStore,
    results: Publisher | None = None,
) -> None:
    """Put a give-up on record (and on the result topic) before its event is acknowledged;
    if that fails the caller raises, and Eventarc redelivers."""
    record_failure(event, failure, settings, store)
    if results:
        results.publish(failed_message(event, failure))


def _delete_source_if_asked(
    event: StorageObjectEvent, report: Report, settings: Settings, store: ObjectStore
) -> Report:
    """DELETE_SOURCE: the last step, after anything else the upload is needed for (the
    result message), since a redelivery finds the upload gone and does nothing more.

    Only once every thumbnail of this generation is in place, and only this generation:
    a stale event (superseded) leaves the newer upload alone.
    """
    if not settings.delete_source or any(t.outcome is Outcome.SUPERSEDED for t in report.thumbnails):
        return report
    return replace(report, source_deleted=store.delete(event.bucket, event.name, if_generation_match=event.generation))


def _source_metadata(event: StorageObjectEvent) -> dict[str, str]:
    return {
        SOURCE_BUCKET_KEY: event.bucket,
        SOURCE_OBJECT_KEY: event.name,
        SOURCE_GENERATION_KEY: str(event.generation),
    }


def _write_thumbnail(
    event: StorageObjectEvent,
    name: str,
    size: Size,
    thumbnail: Thumbnail,
    settings: Settings,
    store: ObjectStore,
    is_blurred: bool = False,
) -> WrittenThumbnail:
    copied = dict(event.metadata) if settings.copy_source_metadata else {}
    new = NewObject(
        data=thumbnail.data,
        content_type=thumbnail.content_type,
        cache_control=settings.cache_control,
        content_disposition=_content_disposition(settings.content_disposition, name),
        # Ours last: the link back to the source and the size are always right.
        metadata={
            **copied,
            **_source_metadata(event),
            WIDTH_KEY: str(thumbnail.width),
            HEIGHT_KEY: str(thumbnail.height),
            THUMBHASH_KEY: thumbnail.thumbhash,
            COLOR_KEY: thumbnail.color,
            SETTINGS_KEY: settings_fingerprint(settings.imaging, size),
            **({MODERATION_KEY: "blurred"} if is_blurred else {}),
        },
    )
    outcome = _write_once(event, settings.output_bucket, name, new, store)
    return WrittenThumbnail(
        name, thumbnail.width, thumbnail.height, len(thumbnail.data), outcome, thumbnail.thumbhash, thumbnail.color,
        is_blurred,
    )  # fmt: skip


def _content_disposition(kind: str, name: str) -> str | None:
    """RFC 6266, with the file name in both forms so any browser offers the right one."""
    if not kind:
        return None
    filename = name.rsplit("/", 1)[-1]
    # The quoted fallback: printable ASCII only, and none of the characters a quoted
    # string or a lenient browser would read as syntax.
    ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in filename)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _write_once(event: StorageObjectEvent, bucket: str, name: str, new: NewObject, store: ObjectStore) -> Outcome:
    """Create-only, then decided by what is there: this generation's (a duplicate, unless
    its settings fingerprint differs), a newer one's (superseded) or an older one's,
    replaced exactly. A writer (or a deletion) that gets in between is met again, up to
    three attempts in all, then the event is retried."""
    expected = 0  # the generation the write is conditional on: 0, nothing there
    for _ in range(3):
        try:
            store.write(bucket, name, new, if_generation_match=expected)
        except WriteConflict:
            pass
        else:
            return Outcome.CREATED if expected == 0 else Outcome.REPLACED
        existing = store.stat(bucket, name)
        if existing is None:  # deleted since (an older generation's deleted event): create it
            expected = 0
            continue
        decided = _decided_by(event, bucket, name, new, existing)
        if decided is not None:
            return decided
        expected = existing.generation
    raise errors.StorageUnavailable(f"gs://{bucket}/{name} changed while writing")


def _decided_by(
    event: StorageObjectEvent, bucket: str, name: str, new: NewObject, existing: StoredObject
) -> Outcome | None:
    """What an existing object under the name means for this write; None: replace it."""
    same_source = (
        existing.metadata.get(SOURCE_BUCKET_KEY) == event.bucket
        and existing.metadata.get(SOURCE_OBJECT_KEY) == event.name
    )
    if SOURCE_OBJECT_KEY in existing.metadata and not same_source:
        their_source = f"gs://{existing.metadata.get(SOURCE_BUCKET_KEY)}/{existing.metadata[SOURCE_OBJECT_KEY]}"
        raise errors.OutputNameTaken(f"gs://{bucket}/{name} is already the thumbnail of {their_source} (OUTPUT_NAME)")
    their_generation = existing.metadata.get(SOURCE_GENERATION_KEY, "")
    if same_source and their_generation.isdigit():
        if int(their_generation) > event.generation:
            return Outcome.SUPERSEDED
        stale_settings = existing.metadata.get(SETTINGS_KEY) != new.metadata.get(SETTINGS_KEY)
        if int(their_generation) == event.generation and not stale_settings:
            return Outcome.DUPLICATE
    # An older generation's thumbnail, one made under other settings, or an object we did
    # not write: replaced, exactly that object.
    return None


def remove_made_from(
    store: ObjectStore, bucket: str, name: str, event: StorageObjectEvent, *, older_only: bool
) -> bool:
    """Delete ``name`` if it was made from ``event``'s upload: from exactly its generation,
    or (``older_only``) from an older one. Never a newer generation's, never a stranger's;
    the delete is conditioned on the object's own generation, so one that is replaced
    meanwhile stays."""
    existing = store.stat(bucket, name)
    if existing is None:
        return False
    metadata = existing.metadata
    if metadata.get(SOURCE_BUCKET_KEY) != event.bucket or metadata.get(SOURCE_OBJECT_KEY) != event.name:
        return False
    their_generation = metadata.get(SOURCE_GENERATION_KEY, "")
    if not their_generation.isdigit():
        return False
    made_from = int(their_generation)
    if made_from < event.generation if older_only else made_from == event.generation:
        return store.delete(bucket, name, if_generation_match=existing.generation)
    return False


def _remove_older_leftovers(
    event: StorageObjectEvent, settings: Settings, store: ObjectStore, written: tuple[WrittenThumbnail, ...]
) -> None:
    """An overwrite leaves what an older generation had under other names: its failure
    record, and its thumbnails when the extension changed (a PNG replaced by a JPEG under
    ``auto``). Only the names the settings can give are looked at (a stat each)."""
    names = {t.name for t in written}
    for size in settings.imaging.sizes:
        extensions = possible_extensions(settings.imaging.format_for(size))
        for name in thumbnail_names(event.name, size, extensions, settings.output_prefix, settings.output_name):
            if name not in names:
                remove_made_from(store, settings.output_bucket, name, event, older_only=True)
    if settings.failure_prefix:
        with contextlib.suppress(errors.OutputNameTooLong):
            failure = record_name(event.name, settings.failure_prefix)
            remove_made_from(store, settings.output_bucket, failure, event, older_only=True)


def record_failure(
    event: StorageObjectEvent, error: errors.PermanentError, settings: Settings, store: ObjectStore
) -> None:
    """Write a JSON record of why the upload has no thumbnail (the latest generation wins)."""
    if not settings.failure_prefix:
        return
    try:
        name = record_name(event.name, settings.failure_prefix)
    except errors.OutputNameTooLong:
        return  # the log line is the only record possible
    record: dict[str, object] = {
        "bucket": event.bucket,
        "name": event.name,
        "generation": str(event.generation),
        "reason": error.reason,
        "detail": str(error),
        "event_id": event.event_id,
        "time": datetime.now(UTC).isoformat(),
    }
    if error.warnings:
        record["warnings"] = list(error.warnings)
    _write_record(event, name, record, {FAILURE_REASON_KEY: error.reason}, settings, store)


def _write_record(
    event: StorageObjectEvent,
    name: str,
    record: dict[str, object],
    metadata: dict[str, str],
    settings: Settings,
    store: ObjectStore,
) -> None:
    """A JSON record about an upload (its failure, its labels), written like a thumbnail:
    create-only and then decided by the source generation in its metadata, since an
    unconditional write let an old generation's event, slower than the new one's, put
    its record over the new one's."""
    new = NewObject(
        data=json.dumps(record, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
        metadata={**_source_metadata(event), **metadata},
        cache_control="no-cache",
    )
    _write_once(event, settings.output_bucket, name, new, store)
