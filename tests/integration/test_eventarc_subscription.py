"""The local Eventarc reading a real Pub/Sub (emulator) subscription: ack rules, filters, stops."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from google.cloud.pubsub_v1.publisher.client import Client as PublisherClient

from localdev.eventarc import Deliverer, LocalEventarc, RetryPolicy, Trigger
from localdev.pubsub import PubSubEmulator, publisher_client, subscriber_client
from tests.events import EVENTARC_DATA
from tests.integration.helpers import FlakyFunction, notification


def publish(publisher: PublisherClient, topic_path: str, bucket: str = str(EVENTARC_DATA["bucket"])) -> str:
    message = notification({**EVENTARC_DATA, "bucket": bucket})
    future = publisher.publish(topic_path, message.data, **message.attributes)
    return str(future.result(timeout=10))


def wait_until(condition: Callable[[], bool], seconds: float = 20) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


def eventarc(
    emulator: PubSubEmulator, subscription: str, url: str, dead_letters: Path, policy: RetryPolicy
) -> LocalEventarc:
    local = LocalEventarc(
        subscriber_client(emulator.host),
        subscription,
        Trigger(bucket=str(EVENTARC_DATA["bucket"])),
        Deliverer(url, policy, dead_letters),
    )
    local.start()
    return local


def test_delivered_with_the_message_id_as_event_id_after_two_failures(
    emulator: PubSubEmulator, topic: tuple[str, str], flaky: Callable[[int], FlakyFunction], tmp_path: Path
) -> None:
    function = flaky(2)
    local = eventarc(emulator, topic[1], function.url, tmp_path, RetryPolicy(scale=0.001))
    try:
        message_id = publish(publisher_client(emulator.host), topic[0])
        wait_until(lambda: function.processed == 1)
        time.sleep(0.5)  # acknowledged: nothing more arrives
    finally:
        local.stop()
    assert len(function.requests) == 3
    assert {headers["ce-id"] for headers, _ in function.requests} == {message_id}
    assert json.loads(function.requests[-1][1])["name"] == EVENTARC_DATA["name"]


def test_only_the_triggers_bucket_is_delivered(
    emulator: PubSubEmulator, topic: tuple[str, str], flaky: Callable[[int], FlakyFunction], tmp_path: Path
) -> None:
    function = flaky(0)
    local = eventarc(emulator, topic[1], function.url, tmp_path, RetryPolicy(scale=0.001))
    try:
        publisher = publisher_client(emulator.host)
        publish(publisher, topic[0], bucket="some-other-bucket")
        publish(publisher, topic[0])
        wait_until(lambda: function.processed == 1)
        time.sleep(0.5)
    finally:
        local.stop()
    assert [headers["ce-bucket"] for headers, _ in function.requests] == [EVENTARC_DATA["bucket"]]


def test_stopping_mid_retry_loses_nothing(
    emulator: PubSubEmulator, topic: tuple[str, str], flaky: Callable[[int], FlakyFunction], tmp_path: Path
) -> None:
    """Stopped between redeliveries, the message is not acknowledged: the next run gets it."""
    down = flaky(10_000)
    slow = RetryPolicy(scale=0.1)  # 1 s, 2 s, ...: still retrying when stopped
    first = eventarc(emulator, topic[1], down.url, tmp_path, slow)
    message_id = publish(publisher_client(emulator.host), topic[0])
    wait_until(lambda: len(down.requests) >= 1)
    first.stop()
    assert list(tmp_path.iterdir()) == []  # not dead-lettered

    back = flaky(0)
    second = eventarc(emulator, topic[1], back.url, tmp_path, RetryPolicy(scale=0.001))
    try:
        wait_until(lambda: back.processed == 1, seconds=30)
    finally:
        second.stop()
    assert back.requests[0][0]["ce-id"] == message_id


def test_a_message_that_is_not_a_storage_notification_is_kept_and_not_redelivered(
    emulator: PubSubEmulator, topic: tuple[str, str], flaky: Callable[[int], FlakyFunction], tmp_path: Path
) -> None:
    function = flaky(0)
    local = eventarc(emulator, topic[1], function.url, tmp_path, RetryPolicy(scale=0.001))
    try:
        publisher_client(emulator.host).publish(topic[0], b"hello", eventType="SOMETHING_ELSE").result(timeout=10)
        wait_until(lambda: any(tmp_path.glob("unusable-*.json")))
        time.sleep(0.5)
    finally:
        local.stop()
    [kept] = list(tmp_path.glob("unusable-*.json"))
    assert "not a Cloud Storage notification" in json.loads(kept.read_text())["reason"]
    assert function.requests == []
