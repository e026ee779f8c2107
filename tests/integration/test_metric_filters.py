"""The log-based metrics (monitoring/metrics.json) against log lines the function really
writes: each filter's conditions on the JSON payload hold, and each extractor finds its
field, on a success, a failure and a retry. A metric whose field the function never writes
would count nothing, silently."""

from __future__ import annotations

import re
from typing import Any

from google.cloud import storage

from deployment.monitoring import definitions
from tests.images import encode, photo_like
from tests.integration.conftest import Buckets, FunctionFactory
from tests.integration.faults import FailingEndpoint
from tests.integration.helpers import upload

VALUES = {"FUNCTION": "image-processor"}
_PRESENT = re.compile(r"jsonPayload\.([a-z_]+):\*")
_EXTRACT = re.compile(r"EXTRACT\(jsonPayload\.([a-z_]+)\)")


def matches(metric_filter: str, line: dict[str, Any]) -> bool:
    """Our filters' own subset: the resource conditions (which Cloud Run adds) and
    ``jsonPayload.FIELD:*`` (the field is present)."""
    for condition in metric_filter.split(" AND "):
        if condition.startswith("resource."):
            continue
        present = _PRESENT.fullmatch(condition)
        assert present, f"a condition this test does not know: {condition}"
        if present[1] not in line:
            return False
    return True


def lines(make_function: FunctionFactory, client: storage.Client, buckets: Buckets) -> dict[str, dict[str, Any]]:
    function = make_function()
    upload(client, buckets.input, "cat.jpg", encode(photo_like(640, 480), "JPEG"))
    upload(client, buckets.input, "notes.jpg", b"not an image")
    found = {
        "created": function.deliver(buckets.input, "cat.jpg").record,
        "failed": function.deliver(buckets.input, "notes.jpg").record,
    }
    with FailingEndpoint(503) as failing:
        upload(client, buckets.input, "dog.jpg", encode(photo_like(64, 48), "JPEG"))
        retried = make_function(STORAGE_EMULATOR_HOST=failing.url, STORAGE_RETRY_SECONDS="0.1")
        found["retry"] = retried.deliver(buckets.input, "dog.jpg").record
    return found


def test_every_metric_finds_its_fields_in_what_the_function_writes(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    written = lines(make_function, storage_client, buckets)
    assert {outcome: line["outcome"] for outcome, line in written.items()} == {o: o for o in written}
    metrics = {metric["name"]: metric for metric in definitions("metrics", VALUES)}
    counted = {name: [o for o, line in written.items() if matches(m["filter"], line)] for name, m in metrics.items()}
    assert counted == {
        "image-processor_events": ["created", "failed", "retry"],
        "image-processor_duration": ["created", "failed", "retry"],
        "image-processor_input_bytes": ["created"],  # bytes_in: only once an upload was read whole
    }
    for name, metric in metrics.items():
        for outcome in counted[name]:
            line = written[outcome]
            for extractor in [metric.get("valueExtractor"), *metric.get("labelExtractors", {}).values()]:
                if extractor is None:
                    continue
                field = _EXTRACT.fullmatch(extractor)
                assert field, extractor
                if field[1] == "reason" and outcome == "created":
                    assert "reason" not in line  # an empty label, as the API records a missing field
                    continue
                assert field[1] in line, (name, outcome, field[1])
            value = _EXTRACT.fullmatch(metric.get("valueExtractor", ""))
            if value is not None:  # a distribution: the field must hold a number
                assert isinstance(line[value[1]], int | float), (name, outcome)
