"""``python -m thumbnailer backfill``: thumbnails for the uploads that have none.

For a bucket that had files before the function was deployed, objects whose events
were lost, thumbnails a settings change made stale (``--regenerate``) or sizes no
longer configured (``--prune``). Safe by construction, the way a bulk job over
someone's bucket must be:
- no function is invoked: the objects are processed here, by the function's own
  ``process_upload``, so nothing fans out and nothing retries on its own; it publishes
  nothing to RESULT_TOPIC (a bulk job over old uploads would flood its subscribers);
- what is done is decided from the listings (input and output buckets) before an
  image is read, so a second run reads only what the first did not finish, and an
  upload whose failure is on record (``FAILURE_PREFIX``) is not read again unless asked
  (except when the function gave up on it after MAX_RETRY_AGE: that was no fault of the file);
- the listings are walked side by side, as the sorted streams Cloud Storage returns,
  never held whole: memory stays flat from a thousand objects to ten million;
- every write is create-only or conditioned on the generation it replaces (as in the
  function): an interrupted or repeated run never overwrites or duplicates a thumbnail,
  and an upload made meanwhile wins over the run;
- distributed without coordination: with CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT
  (a Cloud Run job's tasks), each process takes the uploads whose stable hash of the
  name falls to it, so every upload is in exactly one task whatever the listing order;
- bounded: ``max_uploads`` per run, ``max_rate`` uploads per second, at most
  ``workers`` in flight; Ctrl-C stops taking new ones, lets those finish and prints
  the summary.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from thumbnailer import errors
from thumbnailer.config import Settings
from thumbnailer.declaring import ConfigError
from thumbnailer.domain import Moderation, Size
from thumbnailer.events import StorageObjectEvent
from thumbnailer.fingerprints import settings_fingerprint
from thumbnailer.imaging import OUTPUT_EXTENSIONS, possible_extensions
from thumbnailer.naming import name_horizon, record_name, thumbnail_names
from thumbnailer.outcomes import Outcome
from thumbnailer.pipeline import (
    FAILURE_REASON_KEY,
    SETTINGS_KEY,
    SOURCE_BUCKET_KEY,
    SOURCE_GENERATION_KEY,
    SOURCE_OBJECT_KEY,
    WIDTH_KEY,
    check_selected,
    process_upload,
)
from thumbnailer.storage import ListedObject, ObjectStore
from thumbnailer.vision import Annotator, VisionApi

logger = logging.getLogger(__name__)
GIVEN_UP = errors.GaveUp.reason
TASK_INDEX, TASK_COUNT = "CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_COUNT"


def share_of(name: str, count: int) -> int:
    """The task (0 to count-1) an upload belongs to: a hash of its name, the same on every
    machine and Python (not ``hash()``, which is salted per process)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Share:
    """This process's part of the bucket: task ``index`` of ``count``."""

    index: int = 0
    count: int = 1

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Share:
        """Cloud Run sets both in each task of a job; neither set: the whole bucket."""
        if TASK_INDEX not in environ and TASK_COUNT not in environ:
            return cls()
        values = {}
        for variable in (TASK_INDEX, TASK_COUNT):
            text = environ.get(variable, "").strip()
            if not text.isdigit():
                raise ConfigError(f"{variable}: {text!r} is not a whole number (set both, or neither)")
            values[variable] = int(text)
        index, count = values[TASK_INDEX], values[TASK_COUNT]
        if count < 1 or index >= count:
            raise ConfigError(f"{TASK_INDEX}: {index} is not below {TASK_COUNT} ({count})")
        return cls(index, count)

    def takes(self, name: str) -> bool:
        return self.count == 1 or share_of(name, self.count) == self.index

    def __str__(self) -> str:
        return f"task {self.index} of {self.count}"


@dataclass(frozen=True)
class BackfillOptions:
    prefix: str = ""
    retry_failed: bool = False
    regenerate: bool = False  # also redo thumbnails whose thumbnail-settings differ from the settings now
    prune: bool = False  # delete this run's uploads' thumbnails that no size or format configured now makes
    share: Share = Share()
    max_uploads: int | None = None  # stop the walk once this many uploads are to do


@dataclass
class PlanCounts:
    """What the listings said; filled in while they are walked."""

    listed: int = 0
    outputs_listed: int = 0
    already_done: int = 0
    failed_before: int = 0
    not_uploads: int = 0  # folder placeholders, the function's own output, names not selected
    other_tasks: int = 0
    to_do: int = 0
    stale: int = 0  # of to_do: made under other settings (--regenerate)
    to_prune: int = 0  # thumbnails to delete (--prune)
    capped: bool = False  # the walk stopped at max_uploads
    to_do_types: Counter[str] = field(default_factory=Counter)  # content types of to_do (the estimate)


@dataclass(frozen=True)
class Work:
    upload: ListedObject
    process: bool  # read and thumbnail it (else only prune)
    prune: tuple[ListedObject, ...] = ()


class _SideBySide:
    """A sorted output listing, walked alongside the sorted input listing.

    ``made_from(source)`` reads the output stream just far enough to have passed every
    name that can belong to ``source`` (they all start with ``horizon(source)``) and
    returns the objects made from it (``thumbnail-source-object``). What is read ahead
    for later sources is kept until they come; what belongs to sources already passed
    (orphans, other buckets' thumbnails) is dropped. So memory holds the few names
    between two neighbouring uploads, not the listing.
    """

    def __init__(
        self, listing: Iterator[ListedObject], horizon: Callable[[str], str], bucket: str, skip: tuple[str, ...] = ()
    ) -> None:
        self._listing, self._horizon, self._bucket, self._skip = listing, horizon, bucket, skip
        self._next: ListedObject | None = next(self._listing, None)
        self._waiting: dict[str, list[ListedObject]] = defaultdict(list)
        self._order: list[str] = []  # a heap of the waiting sources, to drop the passed ones
        self.read = 0  # objects consumed from the listing

    def made_from(self, source: str) -> list[ListedObject]:
        horizon = self._horizon(source)
        while self._next is not None and (self._next.name < horizon or self._next.name.startswith(horizon)):
            listed = self._next
            self._next = next(self._listing, None)
            self.read += 1
            made_from = listed.metadata.get(SOURCE_OBJECT_KEY)
            if made_from is None or made_from < source or listed.metadata.get(SOURCE_BUCKET_KEY) != self._bucket:
                continue
            if any(listed.name.startswith(prefix) for prefix in self._skip):
                continue
            if made_from not in self._waiting:
                heapq.heappush(self._order, made_from)
            self._waiting[made_from].append(listed)
        while self._order and self._order[0] <= source:
            passed = heapq.heappop(self._order)
            if passed != source:
                self._waiting.pop(passed, None)
        return self._waiting.pop(source, [])


class BackfillPlan:
    """The uploads still to do, decided from the listings as they are walked (iterate it
    once); ``counts`` is complete when the iteration ends."""

    def __init__(self, store: ObjectStore, settings: Settings, bucket: str, options: BackfillOptions) -> None:
        self.store, self.settings, self.bucket, self.options = store, settings, bucket, options
        self.counts = PlanCounts()
        # What --regenerate compares each thumbnail's thumbnail-settings with: once per run.
        self.fingerprints = {size: settings_fingerprint(settings.imaging, size) for size in settings.imaging.sizes}

    def __iter__(self) -> Iterator[Work]:
        settings, options, counts = self.settings, self.options, self.counts
        records = tuple(prefix for prefix in (settings.failure_prefix, settings.labels_prefix) if prefix)
        thumbnails = _SideBySide(
            self.store.list(settings.output_bucket, settings.output_prefix),
            lambda source: name_horizon(source, settings.output_prefix, settings.output_name),
            self.bucket,
            # Records share the bucket (and, with an empty OUTPUT_PREFIX, the listing):
            # passed over here, unless the thumbnails themselves live under that prefix.
            skip=tuple(prefix for prefix in records if not settings.output_prefix.startswith(prefix)),
        )
        failures = (
            _SideBySide(
                self.store.list(settings.output_bucket, settings.failure_prefix),
                lambda source: record_name(source, settings.failure_prefix),
                self.bucket,
            )
            if settings.failure_prefix
            else None
        )
        try:
            for candidate in self.store.list(self.bucket, options.prefix):
                counts.listed += 1
                if candidate.name.endswith("/") or _is_own_output(candidate, self.bucket, settings):
                    counts.not_uploads += 1
                    continue
                made = thumbnails.made_from(candidate.name)
                failure = failures.made_from(candidate.name) if failures else []
                if not _is_selected(candidate.name, settings):
                    counts.not_uploads += 1
                elif not options.share.takes(candidate.name):
                    counts.other_tasks += 1
                else:
                    work = self._decide(candidate, made, failure)
                    if work is not None:
                        yield work
                        if options.max_uploads is not None and counts.to_do >= options.max_uploads:
                            counts.capped = True
                            return
        finally:
            counts.outputs_listed = thumbnails.read + (failures.read if failures else 0)

    def _decide(self, upload: ListedObject, made: list[ListedObject], failure: list[ListedObject]) -> Work | None:
        settings, options, counts = self.settings, self.options, self.counts
        try:
            names = _Names(upload.name, settings)
        except errors.OutputNameTooLong:  # processing it records why it has none
            counts.to_do += 1
            counts.to_do_types[upload.content_type or ""] += 1
            return Work(upload, process=True)
        generation = str(upload.generation)
        thumbnails = {listed.name: listed for listed in made if WIDTH_KEY in listed.metadata}
        prune = tuple(listed for name, listed in thumbnails.items() if name not in names) if options.prune else ()
        counts.to_prune += len(prune)
        # Under --prune, only what survives it counts as done.
        accepted = names.now if options.prune else names.any
        present = {
            size: [listed for name in accepted[size] if (listed := thumbnails.get(name)) is not None]
            for size in accepted
        }
        complete = all(
            any(listed.metadata.get(SOURCE_GENERATION_KEY) == generation for listed in present[size])
            for size in present
        )
        stale = options.regenerate and any(
            listed.metadata.get(SOURCE_GENERATION_KEY) == generation
            and listed.metadata.get(SETTINGS_KEY) != self.fingerprints[size]
            for size in present
            for listed in present[size]
        )
        if complete and not stale:
            counts.already_done += 1
            return Work(upload, process=False, prune=prune) if prune else None
        if not options.retry_failed and _failed_for_good(upload, failure):
            counts.failed_before += 1
            return Work(upload, process=False, prune=prune) if prune else None
        counts.to_do += 1
        counts.stale += complete and stale
        counts.to_do_types[upload.content_type or ""] += 1
        return Work(upload, process=True, prune=prune)


class _Names:
    """The thumbnail names of one upload, per configured size: in any format (what the
    function may have made), and in the formats the settings can give now. A name over
    Cloud Storage's limit was never written and is left out; ``OutputNameTooLong`` if a
    size has none."""

    def __init__(self, source: str, settings: Settings) -> None:
        imaging = settings.imaging

        def names(size: Size, extensions: Iterable[str]) -> list[str]:
            return thumbnail_names(source, size, extensions, settings.output_prefix, settings.output_name)

        self.any = {size: names(size, OUTPUT_EXTENSIONS) for size in imaging.sizes}
        self.now = {size: names(size, possible_extensions(imaging.format_for(size))) for size in imaging.sizes}
        if not all(self.now.values()):
            raise errors.OutputNameTooLong("a thumbnail name would be over Cloud Storage's limit")

    def __contains__(self, name: str) -> bool:
        return any(name in names for names in self.now.values())


def _failed_for_good(upload: ListedObject, records: list[ListedObject]) -> bool:
    """This generation already failed because of what it is (a newer upload under the name
    deserves a try, and so does one the function gave up on after MAX_RETRY_AGE)."""
    return any(
        record.metadata.get(SOURCE_GENERATION_KEY) == str(upload.generation)
        and record.metadata.get(FAILURE_REASON_KEY, GIVEN_UP) != GIVEN_UP
        for record in records
    )


def _is_own_output(listed: ListedObject, bucket: str, settings: Settings) -> bool:
    if SOURCE_OBJECT_KEY in listed.metadata:
        return True
    prefixes = [p for p in (settings.output_prefix, settings.failure_prefix, settings.labels_prefix) if p]
    return bucket == settings.output_bucket and any(listed.name.startswith(p) for p in prefixes)


def _is_selected(name: str, settings: Settings) -> bool:
    try:
        check_selected(name, settings)
    except errors.IgnoredEvent:
        return False
    return True


@dataclass
class BackfillSummary:
    plan: BackfillPlan
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    pruned: int = 0
    interrupted: bool = False
    aborted: str | None = None  # why the run stopped early, if a storage error ended it

    @property
    def unprocessed(self) -> int:
        return self.plan.counts.to_do - sum(self.outcomes.values())

    @property
    def thumbnailed(self) -> int:
        """Uploads whose thumbnails are in place now (written, or found written by a concurrent run)."""
        return sum(count for outcome, count in self.outcomes.items() if outcome.done)

    def plan_line(self) -> str:
        counts = self.plan.counts
        options = self.plan.options
        line = (
            f"listed {counts.listed} objects: {counts.already_done} already had thumbnails, "
            f"{counts.failed_before} had a failure on record, "
            f"{counts.not_uploads} were folders, thumbnails or not selected, "
        )
        if options.share.count > 1:
            line += f"{counts.other_tasks} are other tasks' ({options.share}), "
        line += f"{counts.to_do} to do"
        if options.regenerate:
            line += f" ({counts.stale} made under other settings)"
        if options.prune:
            line += f", {counts.to_prune} thumbnails to prune"
        if counts.capped:
            line += f" (stopped at --max-uploads {options.max_uploads}: run again for the rest)"
        return line

    def lines(self) -> list[str]:
        lines = [
            self.plan_line(),
            f"thumbnailed {self.thumbnailed}, skipped {self.outcomes[Outcome.SKIPPED]}, "
            f"failed {self.outcomes[Outcome.FAILED]}, "
            f"errors {self.outcomes[Outcome.RETRY]}, not reached {self.unprocessed}",
        ]
        if self.plan.options.prune:
            lines[-1] += f", pruned {self.pruned}"
        if self.reasons:
            lines.append("reasons: " + ", ".join(f"{reason} {count}" for reason, count in self.reasons.most_common()))
        if self.aborted:
            lines.append(f"stopped: {self.aborted}")
        elif self.interrupted:
            lines.append("interrupted: run the same command again to continue where this run stopped")
        elif self.outcomes[Outcome.RETRY]:
            lines.append("some objects met a transient error: run the same command again to retry them")
        return lines


def moderating_annotator(settings: Settings) -> Annotator | None:
    """Vision for backfill only where thumbnails must wait for it (MODERATION=blur or
    withhold: nothing unchecked may be written). Labels alone are billed per image, and a
    bulk job over a bucket's history should not spend that unasked."""
    if settings.moderation not in (Moderation.BLUR, Moderation.WITHHOLD):
        return None
    return VisionApi.from_settings(settings)


@dataclass(frozen=True)
class _Done:
    outcome: Outcome | None  # None: nothing was to be processed (prune only)
    pruned: int


def _do(
    work: Work, bucket: str, run_id: str, settings: Settings, store: ObjectStore, annotator: Annotator | None
) -> _Done:
    """The function's own processing of one listed object (publishing nothing), then its
    pruning, only once the thumbnails that replace the pruned ones are in place."""
    outcome = None
    if work.process:
        listed = work.upload
        event = StorageObjectEvent(
            event_id=run_id,
            bucket=bucket,
            name=listed.name,
            generation=listed.generation,
            size=listed.size,
            content_type=listed.content_type,
            metadata=listed.metadata,
        )
        outcome = process_upload(event, settings, store, results=None, annotator=annotator).outcome
    pruned = sum(
        store.delete(settings.output_bucket, thumbnail.name, if_generation_match=thumbnail.generation)
        for thumbnail in work.prune
    )
    return _Done(outcome, pruned)


class _Pace:
    """At most ``rate`` starts per second, evenly spaced (no bursts after a pause)."""

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._gap = 1 / rate if rate else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = clock()

    def wait(self) -> None:
        if not self._gap:
            return
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._gap


def run_backfill(
    plan: BackfillPlan,
    *,
    workers: int,
    max_rate: float | None = None,
    on_progress: Callable[[], None] = lambda: None,
) -> BackfillSummary:
    """Walk ``plan`` and process what it yields, with at most ``workers`` objects in flight
    and at most ``max_rate`` uploads started per second."""
    settings, store, bucket = plan.settings, plan.store, plan.bucket
    summary = BackfillSummary(plan)
    run_id = f"backfill-{uuid.uuid4()}"
    annotator = moderating_annotator(settings)
    pace = _Pace(max_rate)
    lock = threading.Lock()

    def tally(future: Future[_Done]) -> None:
        reason = None
        pruned = 0
        try:
            done = future.result()
            outcome, pruned = done.outcome, done.pruned
        except errors.ThumbnailerError as error:
            outcome, reason = error.outcome, error.reason
            if isinstance(error, errors.StorageMisconfigured):
                summary.aborted = str(error)
        except Exception:  # a bug must not stop the other objects; it is logged and counted
            logger.exception("unexpected error while processing an object")
            outcome, reason = Outcome.RETRY, "internal_error"
        with lock:
            summary.pruned += pruned
            if outcome is not None:
                summary.outcomes[outcome] += 1
            if reason:
                summary.reasons[reason] += 1
        if outcome is not None:
            on_progress()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backfill") as pool:
        in_flight: set[Future[_Done]] = set()
        try:
            for work in plan:
                if summary.aborted:
                    break
                if len(in_flight) >= workers:
                    finished, in_flight = _wait_for_one(in_flight)
                    for future in finished:
                        tally(future)
                if work.process:
                    pace.wait()
                in_flight.add(pool.submit(_do, work, bucket, run_id, settings, store, annotator))
        except KeyboardInterrupt:
            summary.interrupted = True
        except errors.ThumbnailerError as error:  # a listing failed half-way
            summary.aborted = f"cannot list the buckets: {error}"
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


def _wait_for_one(in_flight: set[Future[_Done]]) -> tuple[set[Future[_Done]], set[Future[_Done]]]:
    finished, pending = wait(in_flight, return_when=FIRST_COMPLETED)
    return set(finished), set(pending)


def _drain(in_flight: Iterable[Future[_Done]]) -> list[Future[_Done]]:
    futures = list(in_flight)
    wait(futures)
    return futures
