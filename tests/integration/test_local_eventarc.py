"""The local Eventarc's delivery rules, against a real HTTP endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from localdev.eventarc import Deliverer, Notification, RetryPolicy, to_cloud_event
from tests.events import EVENTARC_DATA
from tests.integration.helpers import FlakyFunction, notification

FAST = RetryPolicy(scale=0.001)  # 10 ms, 20 ms, ... instead of 10 s, 20 s, ...


def test_the_event_is_shaped_as_eventarc_sends_it(flaky: Callable[[int], FlakyFunction], tmp_path: Path) -> None:
    function = flaky(0)
    resource = {**EVENTARC_DATA, "name": "photos/2026/a cat%.jpg", "generation": 1746121312825704, "acl": []}
    Deliverer(function.url, FAST, tmp_path).deliver(to_cloud_event(notification(resource)))
    [(headers, body)] = function.requests
    assert headers["Content-Type"] == "application/json"
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == "4242"
    assert headers["ce-source"] == "//storage.googleapis.com/projects/_/buckets/my-in-bucket"
    assert headers["ce-type"] == "google.cloud.storage.object.v1.finalized"
    assert headers["ce-subject"] == "objects/photos/2026/a%20cat%25.jpg"
    assert headers["ce-time"] == "2026-05-01T17:41:52.830639Z"
    assert headers["ce-bucket"] == "my-in-bucket"
    data = json.loads(body)
    assert data == {**EVENTARC_DATA, "name": "photos/2026/a cat%.jpg"}  # int64 fields as strings, no extras


def test_the_full_resource_replaces_a_trimmed_notification_payload() -> None:
    trimmed = {"bucket": "b", "name": "n.jpg", "generation": "7"}
    full = {**trimmed, "metageneration": "1", "metadata": {"thumbnail-source-object": "x"}}
    event = to_cloud_event(notification(trimmed), lambda bucket, name, generation: full)
    assert event.data["metadata"] == {"thumbnail-source-object": "x"}
    assert event.data["metageneration"] == "1"


def test_not_a_storage_notification_is_refused() -> None:
    with pytest.raises(ValueError, match="eventType"):
        to_cloud_event(Notification("1", {"eventType": "SOMETHING"}, b"{}"))


def test_fails_twice_then_succeeds_delivered_three_times_processed_once(
    flaky: Callable[[int], FlakyFunction], tmp_path: Path
) -> None:
    function = flaky(2)
    result = Deliverer(function.url, FAST, tmp_path).deliver(to_cloud_event(notification()))
    assert (result.delivered, result.attempts, result.last_status) == (True, 3, 204)
    assert len(function.requests) == 3
    assert function.processed == 1
    assert {headers["ce-id"] for headers, _ in function.requests} == {"4242"}
    assert not list(tmp_path.iterdir())


def test_never_succeeding_ends_in_a_dead_letter_record(flaky: Callable[[int], FlakyFunction], tmp_path: Path) -> None:
    function = flaky(10**6)
    policy = RetryPolicy(window_seconds=70, scale=0.001)  # pauses of 10, 20 and 40 "seconds" fit the window
    pauses: list[float] = []
    deliverer = Deliverer(function.url, policy, tmp_path / "dead", sleep=pauses.append)
    result = deliverer.deliver(to_cloud_event(notification()))
    assert (result.delivered, result.attempts, result.last_status) == (False, 4, 500)
    assert pauses == pytest.approx([0.01, 0.02, 0.04])
    assert result.dead_letter == tmp_path / "dead" / "4242.json"
    record = json.loads(result.dead_letter.read_text())
    assert (record["attempts"], record["last_status"]) == (4, 500)
    assert record["event"]["data"]["name"] == EVENTARC_DATA["name"]


def test_unreachable_function_is_retried_too(tmp_path: Path) -> None:
    deliverer = Deliverer("http://127.0.0.1:9/", RetryPolicy(window_seconds=30, scale=0.001), tmp_path)
    result = deliverer.deliver(to_cloud_event(notification()))
    assert (result.delivered, result.attempts, result.last_status) == (False, 3, None)
    assert result.last_error is not None


def test_eventarc_schedule() -> None:
    delays = list(RetryPolicy().delays())
    assert delays[:7] == [10, 20, 40, 80, 160, 320, 600]
    assert set(delays[7:]) == {600}
    assert sum(delays) <= 24 * 3600 < sum(delays) + 600
