"""``python -m thumbnailer backfill``: thumbnails for the uploads that have none.

For a bucket that had files before the function was deployed, or objects whose events
were lost. Safe by construction, the way a bulk job over someone's bucket must be:
- no function is invoked: the objects are processed here, by the function's own
  ``process_upload``, so nothing fans out and nothing retries on its own; it publishes
  nothing to RESULT_TOPIC (a bulk job over old uploads would flood its subscribers);
- what is done is decided from two listings (input and output buckets) before any
  image is read, so a second run reads only what the first did not finish, and an
  upload whose failure is on record (``FAILURE_PREFIX``) is not read again unless asked
  (except when the function gave up on it after MAX_RETRY_AGE: that was no fault of the file);
- every write is create-only (as in the function): an interrupted or repeated run
  never overwrites or duplicates a thumbnail;
- at most ``workers`` objects are in flight, and Ctrl-C stops taking new ones, lets
  those finish and prints the summary.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from thumbnailer import errors
from thumbnailer.config import Settings
from thumbnailer.domain import Moderation
from thumbnailer.events import StorageObjectEvent
from thumbnailer.imaging import OUTPUT_EXTENSIONS
from thumbnailer.naming import record_name, thumbnail_name
from thumbnailer.outcomes import Outcome
from thumbnailer.pipeline import (
    FAILURE_REASON_KEY,
    SOURCE_GENERATION_KEY,
    SOURCE_OBJECT_KEY,
    check_selected,
    process_upload,
)
from thumbnailer.storage import ListedObject, ObjectStore
from thumbnailer.vision import Annotator, VisionApi

logger = logging.getLogger(__name__)
GIVEN_UP = errors.GaveUp.reason


@dataclass(frozen=True)
class BackfillPlan:
    """What the listings say, before any image is read."""

    todo: tuple[ListedObject, ...]
    listed: int
    already_done: int
    failed_before: int
    not_uploads: int  # folder placeholders, the function's own output, names not selected


@dataclass
class BackfillSummary:
    plan: BackfillPlan
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    interrupted: bool = False
    aborted: str | None = None  # why the run stopped early, if a storage error ended it

    @property
    def unprocessed(self) -> int:
        return len(self.plan.todo) - sum(self.outcomes.values())

    @property
    def thumbnailed(self) -> int:
        """Uploads whose thumbnails are in place now (written, or found written by a concurrent run)."""
        return sum(count for outcome, count in self.outcomes.items() if outcome.done)

    def lines(self) -> list[str]:
        plan = self.plan
        lines = [
            f"listed {plan.listed} objects: {plan.already_done} already had thumbnails, "
            f"{plan.failed_before} had a failure on record, "
            f"{plan.not_uploads} were folders, thumbnails or not selected, "
            f"{len(plan.todo)} to do",
            f"thumbnailed {self.thumbnailed}, skipped {self.outcomes[Outcome.SKIPPED]}, "
            f"failed {self.outcomes[Outcome.FAILED]}, "
            f"errors {self.outcomes[Outcome.RETRY]}, not reached {self.unprocessed}",
        ]
        if self.reasons:
            lines.append("reasons: " + ", ".join(f"{reason} {count}" for reason, count in self.reasons.most_common()))
        if self.aborted:
            lines.append(f"stopped: {self.aborted}")
        elif self.interrupted:
            lines.append("interrupted: run the same command again to continue where this run stopped")
        elif self.outcomes[Outcome.RETRY]:
            lines.append("some objects met a transient error: run the same command again to retry them")
        return lines


def _is_own_output(listed: ListedObject, bucket: str, settings: Settings) -> bool:
    if SOURCE_OBJECT_KEY in listed.metadata:
        return True
    prefixes = [p for p in (settings.output_prefix, settings.failure_prefix) if p]
    return bucket == settings.output_bucket and any(listed.name.startswith(p) for p in prefixes)


def _is_selected(name: str, settings: Settings) -> bool:
    try:
        check_selected(name, settings)
    except errors.IgnoredEvent:
        return False
    return True


@dataclass(frozen=True)
class _Output:
    generation: str  # of the source it was made from (thumbnail-source-generation)
    failure_reason: str = ""  # on failure records (thumbnail-failure-reason)


Outputs = dict[str, _Output]


def _has_thumbnails(upload: ListedObject, settings: Settings, outputs: Outputs) -> bool:
    """Every size has a thumbnail of this very generation (an older one is redone)."""
    generation = str(upload.generation)
    try:
        return all(
            any(
                _generation(
                    outputs, thumbnail_name(upload.name, size, extension, settings.output_prefix, settings.output_name)
                )
                == generation
                for extension in OUTPUT_EXTENSIONS
            )
            for size in settings.imaging.sizes
        )
    except errors.OutputNameTooLong:
        return False  # processing it records why it has none


def _generation(outputs: Outputs, name: str) -> str | None:
    output = outputs.get(name)
    return output.generation if output else None


def _has_failure_record(upload: ListedObject, settings: Settings, outputs: Outputs) -> bool:
    """This generation already failed because of what it is (a newer upload under the name
    deserves a try, and so does one the function gave up on after MAX_RETRY_AGE)."""
    if not settings.failure_prefix:
        return False
    try:
        record = outputs.get(record_name(upload.name, settings.failure_prefix))
    except errors.OutputNameTooLong:
        return False
    return record is not None and record.generation == str(upload.generation) and record.failure_reason != GIVEN_UP


def plan_backfill(
    store: ObjectStore, settings: Settings, bucket: str, prefix: str = "", *, retry_failed: bool = False
) -> BackfillPlan:
    """Decide from the listings alone which objects still need thumbnails."""
    # One listing of the output bucket covers thumbnails and failure records: the longest
    # prefix both share (object names, compared as strings, not as paths).
    prefixes = [settings.output_prefix, settings.failure_prefix or settings.output_prefix]
    outputs: Outputs = {
        listed.name: _Output(
            listed.metadata.get(SOURCE_GENERATION_KEY, ""), listed.metadata.get(FAILURE_REASON_KEY, "")
        )
        for listed in store.list(settings.output_bucket, os.path.commonprefix(prefixes))  # noqa: RUF071
    }
    todo: list[ListedObject] = []
    listed = done = failed_before = not_uploads = 0
    for candidate in store.list(bucket, prefix):
        listed += 1
        own = candidate.name.endswith("/") or _is_own_output(candidate, bucket, settings)
        if own or not _is_selected(candidate.name, settings):
            not_uploads += 1
        elif _has_thumbnails(candidate, settings, outputs):
            done += 1
        elif not retry_failed and _has_failure_record(candidate, settings, outputs):
            failed_before += 1
        else:
            todo.append(candidate)
    return BackfillPlan(tuple(todo), listed, done, failed_before, not_uploads)


def _process_one(
    listed: ListedObject,
    bucket: str,
    run_id: str,
    settings: Settings,
    store: ObjectStore,
    annotator: Annotator | None,
) -> Outcome:
    """The function's own processing of one listed object, publishing nothing."""
    event = StorageObjectEvent(
        event_id=run_id,
        bucket=bucket,
        name=listed.name,
        generation=listed.generation,
        size=listed.size,
        content_type=listed.content_type,
        metadata=listed.metadata,
    )
    return process_upload(event, settings, store, results=None, annotator=annotator).outcome


def moderating_annotator(settings: Settings) -> Annotator | None:
    """Vision for backfill only where thumbnails must wait for it (MODERATION=blur or
    withhold: nothing unchecked may be written). Labels alone are billed per image, and a
    bulk job over a bucket's history should not spend that unasked."""
    if settings.moderation not in (Moderation.BLUR, Moderation.WITHHOLD):
        return None
    return VisionApi.from_settings(settings)


def run_backfill(
    plan: BackfillPlan,
    settings: Settings,
    store: ObjectStore,
    bucket: str,
    *,
    workers: int,
    on_progress: Callable[[], None] = lambda: None,
) -> BackfillSummary:
    """Process ``plan.todo`` with at most ``workers`` objects in flight."""
    summary = BackfillSummary(plan)
    run_id = f"backfill-{uuid.uuid4()}"
    annotator = moderating_annotator(settings)
    lock = threading.Lock()

    def tally(future: Future[Outcome]) -> None:
        reason = None
        try:
            outcome = future.result()
        except errors.ThumbnailerError as error:
            outcome, reason = error.outcome, error.reason
            if isinstance(error, errors.StorageMisconfigured):
                summary.aborted = str(error)
        except Exception:  # a bug must not stop the other objects; it is logged and counted
            logger.exception("unexpected error while processing an object")
            outcome, reason = Outcome.RETRY, "internal_error"
        with lock:
            summary.outcomes[outcome] += 1
            if reason:
                summary.reasons[reason] += 1
        on_progress()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backfill") as pool:
        in_flight: set[Future[Outcome]] = set()
        try:
            for listed in plan.todo:
                if summary.aborted:
                    break
                if len(in_flight) >= workers:
                    finished, in_flight = _wait_for_one(in_flight)
                    for future in finished:
                        tally(future)
                in_flight.add(pool.submit(_process_one, listed, bucket, run_id, settings, store, annotator))
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            # In-flight objects finish (their writes are whole or absent either way); a
            # second Ctrl-C does not cut that short, nor lose the summary.
            while True:
                try:
                    last = _drain(in_flight)
                    break
                except KeyboardInterrupt:
                    summary.interrupted = True
            for future in last:
                tally(future)
    return summary


def _wait_for_one(in_flight: set[Future[Outcome]]) -> tuple[set[Future[Outcome]], set[Future[Outcome]]]:
    finished, pending = wait(in_flight, return_when=FIRST_COMPLETED)
    return set(finished), set(pending)


def _drain(in_flight: Iterable[Future[Outcome]]) -> list[Future[Outcome]]:
    futures = list(in_flight)
    wait(futures)
    return futures
