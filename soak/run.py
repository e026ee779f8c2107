"""One soak: uploads through the whole local pipeline while faults are injected, then the audit.

The stack is ``make run``'s (fake-gcs-server, the Pub/Sub emulator, the local Eventarc,
``main.py`` under functions-framework) with three changes that make it hostile:

* a ``FaultProxy`` between the function and Cloud Storage (503, 429, resets, lost
  answers, truncated bodies, for a share of every kind of request);
* a second subscription on the notification topic with its own local Eventarc, which
  delivers every event a second time after a random delay: every event arrives twice,
  and out of order (a new generation's event before an old one's, a stale one last);
* during each phase the function process is killed (SIGKILL) and started again, and
  the local Eventarc is stopped and started again.

Uploads go straight to the emulator, first at a steady rate, then in one burst. When
every upload has its answer (or the deadline passes), the audit compares the output
bucket with what the function must have made, byte for byte: every valid upload
exactly one thumbnail per size, made from its latest generation; every bad upload a
failure record with the right reason (or a dead letter); nothing else; nothing left
in either subscription.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api_core import exceptions
from google.cloud import storage

from localdev.eventarc import CloudEventRequest, Deliverer, DeliveryResult, LocalEventarc, RetryPolicy
from localdev.faults import Fault
from localdev.pubsub import ensure_subscription, subscriber_client
from localdev.settings import LocalSettings
from localdev.stack import Stack
from soak.audit import Audit, Expected, Sent, Stored, answered, audit, finals
from soak.corpus import Upload, build
from thumbnailer.config import Settings
from thumbnailer.imaging import render_thumbnails
from thumbnailer.naming import record_name, thumbnail_name
from thumbnailer.pipeline import SOURCE_GENERATION_KEY

logger = logging.getLogger(__name__)

# A share of every kind of storage request, about 11% in all.
DEFAULT_FAULTS: Mapping[Fault, float] = {
    Fault.UNAVAILABLE: 0.03,
    Fault.RATE_LIMITED: 0.02,
    Fault.RESET: 0.02,
    Fault.LOST_ANSWER: 0.02,
    Fault.TRUNCATED: 0.02,
}
QUIET_SECONDS = 30.0  # longer than any redelivery pause at the soak's retry scale (6 s)
KILL_FUNCTION = "kill -9 the function, start it again"
RESTART_EVENTARC = "stop the local Eventarc, start it again"


@dataclass(frozen=True)
class SoakOptions:
    uploads: int = 1000
    steady_share: float = 0.5  # the first half at a steady rate, the rest in one burst
    steady_rate: float = 8.0  # uploads per second
    burst_workers: int = 16
    bad_share: float = 0.1
    overwrite_share: float = 0.05
    storage_faults: Mapping[Fault, float] = field(default_factory=lambda: dict(DEFAULT_FAULTS))
    duplicate_delay_seconds: float = 3.0  # the second delivery of each event comes 0..this later
    retry_scale: float = 0.01  # Eventarc's 10 s..600 s backoff and 24 h window, scaled
    sizes: str = "200x200,64x64"
    drain_seconds: float = 600.0
    seed: int = 7


class ShuffledDeliverer(Deliverer):
    """Delivers each event after a random pause: a second, late, out-of-order copy."""

    def __init__(self, *args: Any, max_delay_seconds: float, seed: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_delay_seconds = max_delay_seconds
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def deliver(self, event: CloudEventRequest) -> DeliveryResult:
        with self._lock:
            delay = self._random.uniform(0, self.max_delay_seconds)
        if self.stopping.wait(delay):
            return DeliveryResult(event.id, False, 0, aborted=True)
        return super().deliver(event)


# An upload and what the function must make of it, rendered before the run.
Planned = tuple[Upload, Expected]


@dataclass
class FaultEvent:
    what: str
    phase: str
    at_seconds: float
    took_seconds: float


@dataclass
class SoakResult:
    options: SoakOptions
    sizes: int
    audit: Audit
    valid_uploads: int
    overwrites: int
    latency_ms: dict[str, list[float]]
    peak_memory_bytes: int
    injected: Counter[str]
    storage_requests: Counter[str]
    redeliveries: int
    max_attempts: int
    faults: list[FaultEvent]
    seconds: dict[str, float]

    @property
    def violations(self) -> list[str]:
        return self.audit.violations


class _Records(logging.Handler):
    """Keeps the local Eventarc's log records: deliveries, redeliveries, dead letters."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)  # list.append is atomic

    def messages(self) -> Iterator[logging.LogRecord]:
        return iter(list(self.records))


class Soak:
    def __init__(self, options: SoakOptions, state_dir: Path) -> None:
        self.options = options
        self.state_dir = state_dir
        # Vision off: the audit judges thumbnails and failure records (Vision's own
        # retries and records are tested in tests/integration/test_vision.py).
        self.function_environ = {"THUMBNAIL_SIZES": options.sizes, "VISION_FEATURES": ""}
        self.sent: list[Sent] = []
        self.faults: list[FaultEvent] = []
        self.peak_memory = 0
        self._began = 0.0
        self._lock = threading.Lock()
        self._sampling = threading.Event()

    # -- the run -------------------------------------------------------------------------

    def run(self) -> SoakResult:
        options = self.options
        environ = {
            **os.environ,
            "LOCAL_DIR": str(self.state_dir),
            "LOCAL_SAMPLES": "0",
            "EVENTARC_RETRY_SCALE": str(options.retry_scale),
            **dict.fromkeys(
                ("WEB_PORT", "STORAGE_PORT", "STORAGE_TLS_PORT", "PUBSUB_PORT", "FUNCTION_PORT", "VISION_PORT"), "0"
            ),
        }
        local_settings = LocalSettings.from_environ(environ)
        # The function's settings, as its process reads them (os.environ plus the stack's).
        settings = Settings.from_environ(
            {**os.environ, **self.function_environ, "OUTPUT_BUCKET": local_settings.output_bucket}
        )
        started = time.monotonic()
        uploads = build(
            options.uploads, bad_share=options.bad_share, overwrite_share=options.overwrite_share, seed=options.seed
        )
        # Rendered here, before the stack starts, so the audit's work never competes
        # with the function's during the run.
        plan = tuple((upload, expect(upload, settings)) for upload in uploads)
        corpus_seconds = time.monotonic() - started
        logger.info(f"corpus: {len(uploads)} uploads and their thumbnails in {corpus_seconds:.1f} s")
        stack = Stack(
            local_settings,
            environ,
            function_environ=self.function_environ,
            storage_faults=options.storage_faults,
        )
        records = _Records()
        eventarc_logger = logging.getLogger("localdev.eventarc")
        eventarc_logger.addHandler(records)
        previous_level = eventarc_logger.level
        eventarc_logger.setLevel(logging.INFO)
        duplicates: LocalEventarc | None = None
        try:
            stack.start()
            assert stack.pubsub is not None
            assert stack.function is not None
            duplicate_subscription = ensure_subscription(
                stack.pubsub.host, stack.settings.project, stack.settings.topic, "soak-second-delivery", 60
            )
            duplicates = stack.start_eventarc(
                duplicate_subscription,
                ShuffledDeliverer(
                    stack.function.url,
                    RetryPolicy(scale=options.retry_scale),
                    stack.paths.dead_letters,
                    timeout_seconds=540,
                    max_delay_seconds=options.duplicate_delay_seconds,
                    seed=options.seed,
                ),
                # Its copies mostly wait out their random pause: enough slots that the
                # pauses, not the slots, set when each copy arrives.
                max_in_flight=32,
            )
            sampler = threading.Thread(target=self._sample_memory, args=(stack,), daemon=True)
            sampler.start()
            client = stack.storage_client()
            self._began = time.monotonic()
            steady_count = round(len(plan) * options.steady_share)
            self._steady(stack, client, plan[:steady_count])
            steady_seconds = time.monotonic() - self._began
            burst_began = time.monotonic()
            self._burst(stack, client, plan[steady_count:])
            burst_seconds = time.monotonic() - burst_began
            logger.info(f"uploaded {len(self.sent)} in {time.monotonic() - self._began:.1f} s; draining")
            drain_began = time.monotonic()
            self._drain(stack, client, duplicates)
            drain_seconds = time.monotonic() - drain_began
            self._sampling.set()
            duplicates.stop()
            duplicates = None
            stack.stop_eventarc()
            unfinished = sum(
                _left_in(stack.pubsub.host, path) for path in (stack.subscription_path, duplicate_subscription)
            )
            function_records = stack.function.log_records()
            audit_began = time.monotonic()
            result = self._audit(stack, settings, client, function_records, records, unfinished)
            result.seconds.update(
                corpus=corpus_seconds,
                steady=steady_seconds,
                burst=burst_seconds,
                drain=drain_seconds,
                audit=time.monotonic() - audit_began,
            )
            return result
        finally:
            self._sampling.set()
            if duplicates is not None:
                duplicates.stop()
            stack.stop()
            eventarc_logger.removeHandler(records)
            eventarc_logger.setLevel(previous_level)

    def _sample_memory(self, stack: Stack) -> None:
        while not self._sampling.wait(0.05):
            function = stack.function
            if function is not None:
                self.peak_memory = max(self.peak_memory, function.memory_bytes())

    def _upload(self, client: storage.Client, bucket: str, planned: Planned, phase: str) -> None:
        upload, expected = planned
        blob = client.bucket(bucket).blob(upload.name)
        blob.upload_from_string(upload.data, content_type=upload.content_type)
        with self._lock:
            self.sent.append(Sent(upload, expected, int(blob.generation or 0), phase))

    def _fault(self, stack: Stack, what: str, phase: str) -> threading.Thread:
        """Inject one fault in the background, so uploads go on meanwhile."""

        def inject() -> None:
            began = time.monotonic()
            if what == KILL_FUNCTION:
                assert stack.function is not None
                stack.function.kill()
                time.sleep(0.5)  # down for a while: deliveries meanwhile fail and are redelivered
                stack.function.start()
            else:
                stack.restart_eventarc()
            took = time.monotonic() - began
            self.faults.append(FaultEvent(what, phase, began - self._began, took))
            logger.info(f"{phase}: {what} ({took:.1f} s)")

        thread = threading.Thread(target=inject, name="soak-fault")
        thread.start()
        return thread

    def _steady(self, stack: Stack, client: storage.Client, plan: tuple[Planned, ...]) -> None:
        faults_at = {round(len(plan) * 0.3): KILL_FUNCTION, round(len(plan) * 0.6): RESTART_EVENTARC}
        injected: list[threading.Thread] = []
        began = time.monotonic()
        for index, planned in enumerate(plan):
            if index in faults_at:
                injected.append(self._fault(stack, faults_at[index], "steady"))
            pause = began + index / self.options.steady_rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self._upload(client, stack.settings.input_bucket, planned, "steady")
        for thread in injected:
            thread.join()

    def _burst(self, stack: Stack, client: storage.Client, plan: tuple[Planned, ...]) -> None:
        faults_at = {round(len(plan) * 0.25): RESTART_EVENTARC, round(len(plan) * 0.5): KILL_FUNCTION}
        injected: list[threading.Thread] = []
        with ThreadPoolExecutor(self.options.burst_workers, thread_name_prefix="soak-upload") as pool:
            futures: dict[str, Future[None]] = {}
            for index, planned in enumerate(plan):
                if index in faults_at:
                    injected.append(self._fault(stack, faults_at[index], "burst"))
                name = planned[0].name
                if name in futures:
                    # An overwrite starts once the first upload is done, as a person's would.
                    # (Two uploads of one name at once can commit out of generation order
                    # on fake-gcs-server, which Cloud Storage never does.)
                    futures[name].result()
                futures[name] = pool.submit(self._upload, client, stack.settings.input_bucket, planned, "burst")
            for future in futures.values():
                future.result()
        for thread in injected:
            thread.join()

    def _drain(self, stack: Stack, client: storage.Client, duplicates: LocalEventarc) -> None:
        """Until every upload has its answer and both Eventarcs have been idle for 3 s."""
        deadline = time.monotonic() + self.options.drain_seconds
        idle_since: float | None = None
        while time.monotonic() < deadline:
            made = {
                blob.name: (blob.metadata or {}).get(SOURCE_GENERATION_KEY)
                for blob in client.list_blobs(stack.settings.output_bucket)
            }
            with self._lock:
                sent = list(self.sent)
            complete = answered(sent, made, _dead_lettered(stack.paths.dead_letters))
            busy = (stack.eventarc.in_flight if stack.eventarc else 0) + duplicates.in_flight
            if busy:
                idle_since = None
            else:
                idle_since = idle_since or time.monotonic()
                if complete and time.monotonic() - idle_since >= 3:
                    return
                # Nothing held, nothing arriving: whatever is missing now will never come.
                if time.monotonic() - idle_since >= QUIET_SECONDS:
                    logger.info(f"drain: idle for {QUIET_SECONDS:.0f} s with answers missing")
                    return
            time.sleep(0.5)
        logger.info(f"drain: not finished within {self.options.drain_seconds:.0f} s")

    # -- the audit -----------------------------------------------------------------------

    def _audit(
        self,
        stack: Stack,
        settings: Settings,
        client: storage.Client,
        function_records: list[dict[str, Any]],
        eventarc: _Records,
        unfinished: int,
    ) -> SoakResult:
        """Gather what the buckets hold and the run did; soak/audit.py judges it."""
        output = {
            blob.name: Stored(
                blob.download_as_bytes(),
                (blob.metadata or {}).get(SOURCE_GENERATION_KEY),
                blob.time_created.timestamp() if blob.time_created else None,
            )
            for blob in client.list_blobs(settings.output_bucket)
        }
        sources = {
            blob.name: blob.time_created.timestamp()
            for blob in client.list_blobs(stack.settings.input_bucket)
            if blob.time_created is not None
        }
        with self._lock:
            sent = list(self.sent)
        judged = audit(
            sent,
            output,
            sources,
            _dead_lettered(stack.paths.dead_letters),
            function_records,
            unfinished,
            len(settings.imaging.sizes),
        )
        delivered = [r for r in eventarc.messages() if r.getMessage() == "delivered"]
        proxy = stack.storage_proxy
        assert proxy is not None
        requests_by_kind: Counter[str] = Counter()
        for (kind, _), count in proxy.counts.items():
            requests_by_kind[str(kind)] += count
        return SoakResult(
            options=self.options,
            sizes=len(settings.imaging.sizes),
            audit=judged,
            valid_uploads=sum(1 for one in sent if one.upload.valid),
            overwrites=len(sent) - len(finals(sent)),
            latency_ms=judged.latency_ms,
            peak_memory_bytes=self.peak_memory,
            injected=Counter({str(fault): count for fault, count in proxy.faults().items()}),
            storage_requests=requests_by_kind,
            redeliveries=sum(1 for r in eventarc.messages() if r.getMessage().startswith("delivery failed")),
            max_attempts=max((int(getattr(r, "attempts", 1)) for r in delivered), default=0),
            faults=list(self.faults),
            seconds={},
        )


def expect(upload: Upload, settings: Settings) -> Expected:
    if not upload.valid:
        return Expected(failure_record=record_name(upload.name, settings.failure_prefix))
    rendering = render_thumbnails(upload.data, settings.imaging)
    return Expected(
        thumbnails=tuple(
            (
                thumbnail_name(upload.name, size, thumbnail.extension, settings.output_prefix, settings.output_name),
                thumbnail.data,
            )
            for size, thumbnail in zip(settings.imaging.sizes, rendering.thumbnails, strict=True)
        )
    )


def _dead_lettered(folder: Path) -> set[tuple[str, str]]:
    found = set()
    for path in folder.glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))["event"]["data"]
        except (ValueError, KeyError, TypeError):
            continue
        found.add((str(data.get("name")), str(data.get("generation"))))
    return found


def _left_in(host: str, subscription: str) -> int:
    """Messages still in a subscription (nobody holds a lease any more): events never finished."""
    subscriber = subscriber_client(host)
    try:
        response = subscriber.pull(request={"subscription": subscription, "max_messages": 1000}, timeout=3.0)
    except exceptions.DeadlineExceeded:
        return 0
    finally:
        subscriber.close()
    return len(response.received_messages)
