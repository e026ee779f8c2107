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

import contextlib
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
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.client import Client as SubscriberClient
from google.cloud.pubsub_v1.subscriber.message import Message
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

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
    """An Eventarc trigger's event filters: the event type and the bucket."""

    bucket: str
    event_type: str = FINALIZED

    def matches(self, event: CloudEventRequest) -> bool:
        return event.attributes["type"] == self.event_type and event.attributes["bucket"] == self.bucket


class LocalEventarc:
    """Pulls Cloud Storage notifications from a Pub/Sub subscription and delivers them.

    Up to ``max_in_flight`` events are delivered at once (the function serves several
    requests concurrently, as a Cloud Run instance does). A message is acknowledged
    only after its event was delivered or dead-lettered; the client library extends its
    lease meanwhile, for up to the retry window.
    """

    def __init__(
        self,
        subscriber: SubscriberClient,
        subscription_path: str,
        trigger: Trigger,
        deliverer: Deliverer,
        lookup: ResourceLookup | None = None,
        max_in_flight: int = 8,
    ) -> None:
        self.subscriber = subscriber
        self.subscription_path = subscription_path
        self.trigger = trigger
        self.deliverer = deliverer
        self.lookup = lookup
        self.max_in_flight = max_in_flight
        self._future: Any = None
        self._in_flight = 0
        self._idle = threading.Condition()
        self._handed_back: list[str] = []  # ack ids of messages left for redelivery

    def start(self) -> None:
        policy = self.deliverer.policy
        lease = policy.window_seconds * policy.scale + 2 * self.deliverer.timeout_seconds
        self._future = self.subscriber.subscribe(
            self.subscription_path,
            self.handle,
            flow_control=pubsub_v1.types.FlowControl(
                max_messages=self.max_in_flight, max_lease_duration=max(lease, 600)
            ),
            scheduler=ThreadScheduler(ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="eventarc")),
        )

    def stop(self, timeout: float = 10.0) -> None:
        self.deliverer.stopping.set()
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)
        if self._future is not None:
            self._future.cancel()
            with contextlib.suppress(Exception):
                self._future.result(timeout=timeout)
            self._future = None
        if self._handed_back:
            # The client's own nack is queued and dies with the stream; without this the
            # messages would stay invisible until their (extended) lease ran out.
            self.subscriber.modify_ack_deadline(
                request={
                    "subscription": self.subscription_path,
                    "ack_ids": self._handed_back,
                    "ack_deadline_seconds": 0,
                }
            )
        self.subscriber.close()

    def handle(self, message: Message) -> None:
        with self._idle:
            self._in_flight += 1
        try:
            self._handle(message)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _handle(self, message: Message) -> None:
        if self.deliverer.stopping.is_set():
            self._hand_back(message)
            return
        notification = Notification(
            message.message_id, dict(message.attributes), message.data, message.publish_time.isoformat()
        )
        try:
            event = to_cloud_event(notification, self.lookup)
        except ValueError as error:
            # Nothing could ever deliver it: keep it for inspection, and do not redeliver.
            self._keep_unusable(notification, str(error))
            message.ack()
            return
        if not self.trigger.matches(event):
            logger.debug("no trigger matches", extra={"event_id": event.id, **_where(event)})
            message.ack()
            return
        result = self.deliverer.deliver(event)
        if result.aborted:
            self._hand_back(message)
        else:
            message.ack()

    def _hand_back(self, message: Message) -> None:
        # Not message.nack(): the emulator would redeliver at once to this very stream,
        # which is closing, and the copy would sit out its lease. stop() returns it.
        with self._idle:
            self._handed_back.append(message.ack_id)

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
