"""MAX_RETRY_AGE: an event that keeps failing for a transient or unexpected reason is not
retried for 24 hours. Past the age (judged from ``ce-time``) the next failure is put on
record, then acknowledged; while the record cannot be written, it is still retried.

Storage faults come from a proxy in front of fake-gcs-server that answers downloads with
503 (the storage client's own retries spent within STORAGE_RETRY_SECONDS).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import storage

from localdev.faults import Fault, FaultProxy, RequestKind
from localdev.gcs import FakeGcsServer
from tests.integration.conftest import Buckets, Delivery, FunctionClient, FunctionFactory, event_for
from tests.integration.helpers import JPEG, object_names, upload

TWO_HOURS_AGO = (datetime.now(UTC) - timedelta(hours=2)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def failing_downloads(gcs: FakeGcsServer) -> Iterator[FaultProxy]:
    with FaultProxy(gcs.url, {Fault.UNAVAILABLE: 1.0}, kinds=frozenset({RequestKind.DOWNLOAD})) as proxy:
        yield proxy


@pytest.fixture
def behind_failing_downloads(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets, failing_downloads: FaultProxy
) -> Callable[..., FunctionClient]:
    """``cat.jpg`` uploaded, and a function (with these settings) whose downloads all fail."""
    upload(storage_client, buckets.input, "cat.jpg", JPEG)

    def make(**settings: str) -> FunctionClient:
        return make_function(STORAGE_EMULATOR_HOST=failing_downloads.url, STORAGE_RETRY_SECONDS="1", **settings)

    return make


def deliver(function: FunctionClient, buckets: Buckets, name: str, time: str | None) -> Delivery:
    attributes, data = event_for(function.gcs, buckets.input, name)
    if time is None:
        del attributes["time"]
    else:
        attributes["time"] = time
    return function.deliver_data(attributes, data)


def record_of(client: storage.Client, buckets: Buckets, name: str) -> tuple[dict[str, object], dict[str, str]]:
    blob = client.bucket(buckets.output).get_blob(f"failed/{name}.json")
    assert blob is not None, object_names(client, buckets.output)
    return json.loads(blob.download_as_bytes()), dict(blob.metadata or {})


def test_an_old_event_that_keeps_failing_is_recorded_then_acknowledged(
    behind_failing_downloads: Callable[..., FunctionClient], storage_client: storage.Client, buckets: Buckets
) -> None:
    function = behind_failing_downloads()
    generation = storage_client.bucket(buckets.input).get_blob("cat.jpg").generation
    delivery = deliver(function, buckets, "cat.jpg", TWO_HOURS_AGO)
    assert delivery.status == 200
    line = delivery.record
    assert (line["severity"], line["outcome"], line["reason"], line["last_reason"]) == (
        "ERROR",
        "failed",
        "gave_up",
        "storage_unavailable",
    )
    record, metadata = record_of(storage_client, buckets, "cat.jpg")
    assert (record["reason"], record["generation"]) == ("gave_up", str(generation))
    assert "storage_unavailable" in str(record["detail"])
    assert "MAX_RETRY_AGE (1h)" in str(record["detail"])
    assert metadata["thumbnail-failure-reason"] == "gave_up"
    assert object_names(storage_client, buckets.output) == ["failed/cat.jpg.json"]


def test_a_young_event_is_still_retried(
    behind_failing_downloads: Callable[..., FunctionClient], storage_client: storage.Client, buckets: Buckets
) -> None:
    delivery = deliver(behind_failing_downloads(), buckets, "cat.jpg", datetime.now(UTC).isoformat())
    assert (delivery.status, delivery.record["outcome"], delivery.record["reason"]) == (
        500,
        "retry",
        "storage_unavailable",
    )
    assert object_names(storage_client, buckets.output) == []


@pytest.mark.parametrize("time", [None, "not a time"], ids=["no time", "unreadable time"])
def test_an_event_without_a_usable_time_is_retried_until_eventarc_stops(
    behind_failing_downloads: Callable[..., FunctionClient], buckets: Buckets, time: str | None
) -> None:
    assert deliver(behind_failing_downloads(), buckets, "cat.jpg", time).status == 500


def test_the_age_is_a_setting(behind_failing_downloads: Callable[..., FunctionClient], buckets: Buckets) -> None:
    assert deliver(behind_failing_downloads(MAX_RETRY_AGE="3h"), buckets, "cat.jpg", TWO_HOURS_AGO).status == 500
    assert deliver(behind_failing_downloads(MAX_RETRY_AGE="90m"), buckets, "cat.jpg", TWO_HOURS_AGO).status == 200


def test_nothing_is_given_up_before_it_is_on_record(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets, gcs: FakeGcsServer
) -> None:
    """Storage refuses the record too: the event is retried, so nothing is dropped silently."""
    upload(storage_client, buckets.input, "cat.jpg", JPEG)
    with FaultProxy(gcs.url, {Fault.UNAVAILABLE: 1.0}) as everything_fails:
        function = make_function(STORAGE_EMULATOR_HOST=everything_fails.url, STORAGE_RETRY_SECONDS="1")
        delivery = deliver(function, buckets, "cat.jpg", TWO_HOURS_AGO)
    assert (delivery.status, delivery.record["outcome"], delivery.record["reason"]) == (
        500,
        "retry",
        "storage_unavailable",
    )
    assert "giving up was not possible either" in delivery.record["message"]
    assert object_names(storage_client, buckets.output) == []


def test_a_bug_is_given_up_on_too(
    make_function: FunctionFactory,
    storage_client: storage.Client,
    buckets: Buckets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unexpected exception (here a stand-in for a bug in rendering) is retried while the
    event is young, and recorded with its type once it is old."""
    upload(storage_client, buckets.input, "cat.jpg", JPEG)

    def broken(*_: object, **__: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr("thumbnailer.pipeline.render_thumbnails", broken)
    function = make_function()
    young = deliver(function, buckets, "cat.jpg", datetime.now(UTC).isoformat())
    assert (young.status, young.record["reason"]) == (500, "internal_error")
    old = deliver(function, buckets, "cat.jpg", TWO_HOURS_AGO)
    assert (old.status, old.record["reason"], old.record["last_reason"]) == (200, "gave_up", "internal_error")
    assert "KeyError" in old.record["exc_info"]
    record, _ = record_of(storage_client, buckets, "cat.jpg")
    assert "internal_error: unexpected error: KeyError: 'a bug'" in str(record["detail"])


def test_a_permanent_failure_of_an_old_event_keeps_its_own_reason(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    upload(storage_client, buckets.input, "notes.jpg", b"not an image at all" * 10)
    delivery = deliver(function, buckets, "notes.jpg", TWO_HOURS_AGO)
    assert (delivery.status, delivery.record["reason"]) == (200, "not_an_image")
    record, metadata = record_of(storage_client, buckets, "notes.jpg")
    assert (record["reason"], metadata["thumbnail-failure-reason"]) == ("not_an_image", "not_an_image")
