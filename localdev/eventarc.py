"""A local stand-in for Eventarc: Cloud Storage notifications (Pub/Sub) in, CloudEvents out.

In Google Cloud a Storage upload reaches a function as Cloud Storage -> Pub/Sub ->
Eventarc -> HTTP POST. Locally, fake-gcs-server publishes JSON_API_V1 notifications to
the Pub/Sub emulator; this module pulls them, turns each into exactly the CloudEvent
Eventarc sends (binary mode, ``ce-*`` headers, the object resource as data) and POSTs it
to the function with Eventarc's delivery rules:

* at least once: acknowledged only by 200, 201, 202, 204 or 102;
* otherwise redelivered with exponential backoff, 10 s doubling to 600 s, for 24 h
  (both scaled by ``RetryPolicy.scale`` for local use);
* then dead-lettered: a log line and a JSON record in the dead-letter folder.

The Pub/Sub message is acknowledged only once its event is delivered or dead-lettered,
so stopping this process loses nothing: the emulator redelivers what was in flight.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from google.api_core import exceptions
from google.cloud.pubsub_v1.subscriber.client import Client as SubscriberClient

from localdev.events import FINALIZED, binary_event, storage_object_data

logger = logging.getLogger(__name__)

#: Cloud Storage notification eventType -> CloudEvent type.
EVENT_TYPES = {
    "OBJECT_FINALIZE": "google.cloud.storage.object.v1.finalized",
    "OBJECT_DELETE": "google.cloud.storage.object.v1.deleted",
    "OBJECT_ARCHIVE": "google.cloud.storage.object.v1.archived",
    "OBJECT_METADATA_UPDATE": "google.cloud.storage.object.v1.metadataUpdated",
}
ACKNOWLEDGING_STATUSES = frozenset({200, 201, 202, 204, 102})


@dataclass(frozen=True)
class RetryPolicy:
    """Eventarc's redelivery schedule; ``scale`` shrinks every duration for local runs."""

    initial_seconds: float = 10.0
    maximum_seconds: float = 600.0
    window_seconds: float = 24 * 3600.0
    scale: float = 1.0

    def delays(self) -> Iterator[float]:
        """Pauses before each redelivery, until the next one would fall outside the window."""
        delay, elapsed = self.initial_seconds, 0.0
        while elapsed + delay <= self.window_seconds:
            yield delay * self.scale
            elapsed += delay
            delay = min(delay * 2, self.maximum_seconds)


@dataclass(frozen=True)
class Notification:
    """A Pub/Sub message from Cloud Storage (payload format JSON_API_V1)."""

    message_id: str
    attributes: Mapping[str, str]
    data: bytes
    publish_time: str | None = None


@dataclass(frozen=True)
class CloudEventRequest:
    attributes: dict[str, str]
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return self.attributes["id"]


ResourceLookup = Callable[[str, str, str], Mapping[str, Any] | None]


def to_cloud_event(notification: Notification, lookup: ResourceLookup | None = None) -> CloudEventRequest:
    """The CloudEvent Eventarc would deliver for a Cloud Storage notification.

    ``lookup(bucket, name, generation)`` may return the full object resource: Eventarc's
    data carries it all (custom metadata included, which the function's loop guard
    reads), while an emulator's notification payload may be trimmed.
    Raises ValueError for a message that is not a Cloud Storage notification.
    """
    event_type = EVENT_TYPES.get(notification.attributes.get("eventType", ""))
    if event_type is None:
        raise ValueError(f"not a Cloud Storage notification: eventType={notification.attributes.get('eventType')!r}")
    payload = json.loads(notification.data or b"{}")
    if not isinstance(payload, dict):
        raise ValueError("the notification payload is not a JSON object")
    bucket = notification.attributes.get("bucketId") or payload.get("bucket", "")
    name = notification.attributes.get("objectId") or payload.get("name", "")
    generation = notification.attributes.get("objectGeneration") or str(payload.get("generation", ""))
    resource = (lookup(bucket, name, generation) if lookup and event_type.endswith("finalized") else None) or payload
    data = storage_object_data(resource)
    attributes = {
        "specversion": "1.0",
        # Eventarc uses the Pub/Sub message id: redeliveries keep the same event id.
        "id": notification.message_id,
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "type": event_type,
        "subject": f"objects/{name}",
        "time": notification.attributes.get("eventTime")
        or str(data.get("updated") or notification.publish_time or datetime.now(UTC).isoformat()),
        "bucket": bucket,
    }
    return CloudEventRequest(attributes, data)


@dataclass
class DeliveryResult:
    event_id: str
    delivered: bool
    attempts: int
    last_status: int | None = None
    last_error: str | None = None
    dead_letter: Path | None = None
    aborted: bool = False  # stopped between attempts: neither delivered nor dead-lettered


@dataclass
class Deliverer:
    """POSTs CloudEvents to ``target_url`` with Eventarc's retry rules."""

    target_url: str
    policy: RetryPolicy
    dead_letter_dir: Path
    timeout_seconds: float = 60.0
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] | None = None  # tests record the pauses instead of taking them
    stopping: threading.Event = field(default_factory=threading.Event)

    def _attempt(self, event: CloudEventRequest) -> tuple[int | None, str | None]:
        headers, body = binary_event(event.attributes, event.data)
        try:
            response = self.session.post(self.target_url, headers=headers, data=body, timeout=self.timeout_seconds)
        except requests.RequestException as error:
            return None, f"{type(error).__name__}: {error}"
        if response.status_code in ACKNOWLEDGING_STATUSES:
            return response.status_code, None
        return response.status_code, response.text[:500]

    def deliver(self, event: CloudEventRequest) -> DeliveryResult:
        attempts = 0
        delays = self.policy.delays()
        while True:
            attempts += 1
            status, error = self._attempt(event)
            if error is None:
                logger.info(
                    "delivered", extra={"event_id": event.id, "attempts": attempts, "status": status, **_where(event)}
                )
                return DeliveryResult(event.id, True, attempts, status)
            delay = next(delays, None)
            if delay is None:
                return self._dead_letter(event, attempts, status, error)
            logger.warning(
                "delivery failed; will redeliver",
                extra={
                    "event_id": event.id,
                    "attempts": attempts,
                    "status": status,
                    "retry_in_s": delay,
                    **_where(event),
                },
            )
            if self.sleep is not None:
                self.sleep(delay)
            elif self.stopping.wait(delay):
                logger.info("stopping: left for redelivery", extra={"event_id": event.id, **_where(event)})
                return DeliveryResult(event.id, False, attempts, status, error, aborted=True)

    def _dead_letter(self, event: CloudEventRequest, attempts: int, status: int | None, error: str) -> DeliveryResult:
        self.dead_letter_dir.mkdir(parents=True, exist_ok=True)
        path = self.dead_letter_dir / f"{event.id}.json"
        record = {
            "event": {"attributes": event.attributes, "data": event.data},
            "attempts": attempts,
            "last_status": status,
            "last_error": error,
            "dead_lettered_at": datetime.now(UTC).isoformat(),
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
        temporary.replace(path)
        logger.error(
            "dead-lettered: the retry window ended",
            extra={"event_id": event.id, "attempts": attempts, "status": status, "record": str(path), **_where(event)},
        )
        return DeliveryResult(event.id, False, attempts, status, error, path)


def _where(event: CloudEventRequest) -> dict[str, Any]:
    return {
        "bucket": event.data.get("bucket"),
        "object": event.data.get("name"),
        "generation": event.data.get("generation"),
    }


@dataclass(frozen=True)
class Trigger:
    """An Eventarc trigger's event filters: the bucket and the event types (several: the
    triggers of one function, as deploy.sh makes a second one for deletions)."""

    bucket: str
    event_types: frozenset[str] = frozenset({FINALIZED})

    def matches(self, event: CloudEventRequest) -> bool:
        return event.attributes["type"] in self.event_types and event.attributes["bucket"] == self.bucket


class LocalEventarc:
    """Pulls Cloud Storage notifications from a Pub/Sub subscription and delivers them.

    Up to ``max_in_flight`` events are delivered at once (the function serves several
    requests concurrently, as a Cloud Run instance does). A message is acknowledged
    only after its event was delivered or dead-lettered; until then its lease is
    extended every ``ack_deadline_seconds / 3``. On ``stop()`` the messages still being
    retried are handed back (ack deadline 0), so the next run redelivers them.

    Unary pull, acknowledge and modify-ack-deadline calls, rather than the client's
    streaming pull: every lease change is then ours, and a message handed back at stop
    cannot be re-leased behind our back by a closing stream.
    """

    def __init__(
        self,
        subscriber: SubscriberClient,
        subscription_path: str,
        trigger: Trigger,
        deliverer: Deliverer,
        lookup: ResourceLookup | None = None,
        max_in_flight: int = 8,
        ack_deadline_seconds: int = 60,
    ) -> None:
        self.subscriber = subscriber
        self.subscription_path = subscription_path
        self.trigger = trigger
        self.deliverer = deliverer
        self.lookup = lookup
        self.max_in_flight = max_in_flight
        self.ack_deadline_seconds = ack_deadline_seconds
        self._leased: set[str] = set()  # ack ids being handled
        self._handed_back: list[str] = []
        self._lock = threading.Condition()
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="eventarc")
        self._threads = [
            threading.Thread(target=self._pull_loop, name="eventarc-pull", daemon=True),
            threading.Thread(target=self._lease_loop, name="eventarc-lease", daemon=True),
        ]

    @property
    def in_flight(self) -> int:
        """Messages leased and not yet done with (being delivered, or waiting to be redelivered)."""
        with self._lock:
            return len(self._leased)

    @property
    def _stopping(self) -> threading.Event:
        return self.deliverer.stopping

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._pool.shutdown(wait=True, cancel_futures=False)
        with self._lock:
            handed_back, self._handed_back = self._handed_back, []
        if handed_back:
            self._modify_deadline(handed_back, 0)
        self.subscriber.close()

    def _pull_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                free = self.max_in_flight - len(self._leased)
                if free <= 0:
                    self._lock.wait(0.2)
                    continue
            try:
                response = self.subscriber.pull(
                    request={"subscription": self.subscription_path, "max_messages": free}, timeout=2.0
                )
            except exceptions.DeadlineExceeded:
                continue
            except exceptions.GoogleAPICallError as error:
                logger.warning("pulling the subscription failed; retrying", extra={"reason": str(error)})
                self._stopping.wait(1.0)
                continue
            for received in response.received_messages:
                if self._stopping.is_set():
                    self._hand_back(received.ack_id)
                    continue
                with self._lock:
                    self._leased.add(received.ack_id)
                self._pool.submit(self._handle_received, received)

    def _lease_loop(self) -> None:
        while not self._stopping.wait(self.ack_deadline_seconds / 3):
            with self._lock:
                leased = list(self._leased)
            if leased:
                self._modify_deadline(leased, self.ack_deadline_seconds)

    def _modify_deadline(self, ack_ids: list[str], seconds: int) -> None:
        try:
            self.subscriber.modify_ack_deadline(
                request={"subscription": self.subscription_path, "ack_ids": ack_ids, "ack_deadline_seconds": seconds}
            )
        except exceptions.GoogleAPICallError as error:
            logger.warning("changing ack deadlines failed", extra={"reason": str(error)})

    def _handle_received(self, received: Any) -> None:
        ack_id = received.ack_id
        message = received.message
        notification = Notification(
            message.message_id, dict(message.attributes), bytes(message.data), message.publish_time.isoformat()
        )
        try:
            acknowledge: bool | None = self.handle(notification)
        except Exception:
            # A bug of ours: let the lease run out (redelivery in a minute), not a hot loop.
            logger.exception("handling a notification failed", extra={"event_id": message.message_id})
            acknowledge = None
        with self._lock:
            self._leased.discard(ack_id)
            self._lock.notify_all()
        if acknowledge is None:
            return
        if acknowledge:
            try:
                self.subscriber.acknowledge(request={"subscription": self.subscription_path, "ack_ids": [ack_id]})
            except exceptions.GoogleAPICallError as error:
                # Not acknowledged: Pub/Sub redelivers it, and the function copes with duplicates.
                logger.warning("acknowledging failed", extra={"event_id": message.message_id, "reason": str(error)})
        else:
            self._hand_back(ack_id)

    def _hand_back(self, ack_id: str) -> None:
        with self._lock:
            self._handed_back.append(ack_id)
        if not self._stopping.is_set():
            self._modify_deadline([ack_id], 0)

    def handle(self, notification: Notification) -> bool:
        """Deliver one notification; True when it is done with (delivered, dead-lettered or unusable)."""
        try:
            event = to_cloud_event(notification, self.lookup)
        except ValueError as error:
            # Nothing could ever deliver it: keep it for inspection, and do not redeliver.
            self._keep_unusable(notification, str(error))
            return True
        if not self.trigger.matches(event):
            logger.debug("no trigger matches", extra={"event_id": event.id, **_where(event)})
            return True
        return not self.deliverer.deliver(event).aborted

    def _keep_unusable(self, notification: Notification, reason: str) -> None:
        folder = self.deliverer.dead_letter_dir
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "message_id": notification.message_id,
            "attributes": dict(notification.attributes),
            "data": notification.data.decode("utf-8", "replace"),
            "reason": reason,
        }
        (folder / f"unusable-{notification.message_id}.json").write_text(json.dumps(record, indent=2), "utf-8")
        logger.error(
            "not a Cloud Storage notification; kept", extra={"event_id": notification.message_id, "reason": reason}
        )
