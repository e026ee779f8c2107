import json
from typing import Any

import pytest

from localdev.events import (
    binary_event,
    event_attributes,
    percent_encode_header,
    storage_object_data,
)
from tests.events import ATTRIBUTES, EVENTARC_DATA
from thumbnailer import errors
from thumbnailer.events import FINALIZED, parse_event
from thumbnailer.logs import loggable


def test_parses_what_eventarc_sends() -> None:
    event = parse_event(ATTRIBUTES, EVENTARC_DATA)
    assert event.event_id == "14656529786338331"
    assert event.bucket == "my-in-bucket"
    assert event.name == "photos/2026/cat.jpg"
    assert event.generation == 1746121312825704
    assert event.size == 2689616
    assert event.content_type == "image/jpeg"
    assert event.metadata == {}


def test_accepts_json_numbers_and_bytes() -> None:
    data = {**EVENTARC_DATA, "generation": 7, "size": 10, "metadata": {"a": "b"}}
    event = parse_event(ATTRIBUTES, json.dumps(data).encode())
    assert (event.generation, event.size, event.metadata) == (7, 10, {"a": "b"})


def test_size_is_optional() -> None:
    data = {key: value for key, value in EVENTARC_DATA.items() if key != "size"}
    assert parse_event(ATTRIBUTES, data).size is None


def test_a_deleted_event_is_that_generation_gone() -> None:
    event = parse_event({**ATTRIBUTES, "type": "google.cloud.storage.object.v1.deleted"}, EVENTARC_DATA)
    assert event.deleted
    assert not parse_event(ATTRIBUTES, EVENTARC_DATA).deleted


@pytest.mark.parametrize("event_type", ["google.cloud.storage.object.v1.archived", "com.example.other", None])
def test_other_event_types_are_ignored(event_type: str | None) -> None:
    with pytest.raises(errors.IgnoredEvent):
        parse_event({**ATTRIBUTES, "type": event_type}, EVENTARC_DATA)


@pytest.mark.parametrize(
    "data",
    [
        None,
        b"not json",
        "[1, 2]",
        [1, 2],
        {**EVENTARC_DATA, "bucket": None},
        {key: value for key, value in EVENTARC_DATA.items() if key != "bucket"},
        {key: value for key, value in EVENTARC_DATA.items() if key != "name"},
        {**EVENTARC_DATA, "name": ""},
        {**EVENTARC_DATA, "name": 12},
        {**EVENTARC_DATA, "name": "a\nb.jpg"},
        {key: value for key, value in EVENTARC_DATA.items() if key != "generation"},
        {**EVENTARC_DATA, "generation": "abc"},
        {**EVENTARC_DATA, "generation": "-1"},
        {**EVENTARC_DATA, "generation": True},
        {**EVENTARC_DATA, "generation": 1.5},
        {**EVENTARC_DATA, "size": "big"},
        {**EVENTARC_DATA, "metadata": ["x"]},
        # Past Cloud Storage's own limits: no upload has them, so Eventarc never sends them.
        {**EVENTARC_DATA, "generation": "1" * 5000},  # Python refuses to read it as a number
        {**EVENTARC_DATA, "generation": "9223372036854775808"},  # 2**63
        {**EVENTARC_DATA, "generation": 2**63},
        {**EVENTARC_DATA, "size": "1" * 20},
        {**EVENTARC_DATA, "name": "\ud800.jpg"},  # a lone surrogate: not UTF-8
        {**EVENTARC_DATA, "name": "x" * 1021 + ".jpg"},  # 1025 bytes
        {**EVENTARC_DATA, "name": "é" * 511 + ".jpg"},  # 515 characters, 1026 bytes
        {**EVENTARC_DATA, "bucket": "Not A Bucket"},
        {**EVENTARC_DATA, "bucket": "b" * 223},
    ],
)
def test_malformed_events_are_rejected(data: Any) -> None:
    with pytest.raises(errors.MalformedEvent):
        parse_event(ATTRIBUTES, data)


def test_the_largest_values_cloud_storage_allows_are_accepted() -> None:
    name = "é" * 510 + ".jpg"  # 1024 bytes
    bucket = ".".join(["b" * 63] * 3 + ["b" * 30])  # 222 characters, no part over 63
    data = {**EVENTARC_DATA, "name": name, "generation": str(2**63 - 1), "bucket": bucket}
    event = parse_event(ATTRIBUTES, data)
    assert (event.name, event.generation, event.bucket) == (name, 2**63 - 1, bucket)


@pytest.mark.parametrize("field", ["generation", "bucket", "size"])
def test_a_huge_value_is_not_repeated_in_the_error(field: str) -> None:
    with pytest.raises(errors.MalformedEvent) as refused:
        parse_event(ATTRIBUTES, {**EVENTARC_DATA, field: "Z" * 10_000_000})
    assert len(str(refused.value)) < 300
    with pytest.raises(errors.IgnoredEvent) as ignored:
        parse_event({**ATTRIBUTES, "type": "Z" * 10_000_000}, EVENTARC_DATA)
    assert len(str(ignored.value)) < 300


def test_percent_encoding_follows_the_cloudevents_http_binding() -> None:
    assert percent_encode_header('objects/a b"%é.jpg') == "objects/a%20b%22%25%C3%A9.jpg"
    assert percent_encode_header("objects/#?&=+/x") == "objects/#?&=+/x"


def test_built_event_matches_eventarc_shape() -> None:
    resource = {**EVENTARC_DATA, "generation": 1746121312825704, "acl": [], "name": "a b/ü.jpg"}
    data = storage_object_data(resource)
    headers, body = binary_event(event_attributes(data, event_id="1"), data)
    assert headers["ce-subject"] == "objects/a%20b/%C3%BC.jpg"
    assert headers["ce-source"] == "//storage.googleapis.com/projects/_/buckets/my-in-bucket"
    assert headers["ce-type"] == FINALIZED
    assert headers["ce-bucket"] == "my-in-bucket"
    assert headers["ce-time"] == "2026-05-01T17:41:52.830Z"
    assert headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    assert sent["generation"] == "1746121312825704"
    assert sent["name"] == "a b/ü.jpg"
    assert "acl" not in sent


def test_log_fields_taken_from_an_event_are_bounded() -> None:
    name = "é" * 510 + ".jpg"  # the longest name Cloud Storage allows is logged whole
    assert loggable(name) == name
    assert loggable("12") == "12"
    assert (loggable(12), loggable(True), loggable(None)) == (12, True, None)
    assert loggable("Z" * 10_000_000) == "Z" * 100 + "... (10000000 characters)"
    assert loggable(10**5000) == "<a 16610-bit integer>"
    assert str(loggable({"a": ["Z" * 10_000_000]})).endswith(" characters)")
    assert len(str(loggable({"a": ["Z" * 10_000_000]}))) < 200
    assert loggable([1, 2]) == "[1, 2]"
