"""Turn what Eventarc delivers into a typed ``StorageObjectEvent``.

The object name comes from the event data, never from ``ce-subject``: the CloudEvents
HTTP binding percent-encodes header values, and the data carries the name as is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from thumbnailer.errors import IgnoredEvent, MalformedEvent

FINALIZED = "google.cloud.storage.object.v1.finalized"


@dataclass(frozen=True)
class StorageObjectEvent:
    event_id: str
    bucket: str
    name: str
    generation: int
    size: int | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


def _load_data(data: Any) -> Any:
    if isinstance(data, (bytes, bytearray, str)):
        try:
            return json.loads(data)
        except ValueError:
            raise MalformedEvent("the event data is not JSON") from None
    return data


def _integer(data: Mapping[str, Any], key: str, *, required: bool) -> int | None:
    value = data.get(key)
    if value is None and not required:
        return None
    # Eventarc sends int64 fields as strings; accept real integers too, never bools or floats.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise MalformedEvent(f"{key!r} is {value!r}, not a non-negative integer")


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"the event data has no {key!r}")
    return value


def parse_event(attributes: Mapping[str, Any], data: Any) -> StorageObjectEvent:
    """Validate a CloudEvent's attributes and data; raise ``IgnoredEvent`` or ``MalformedEvent``."""
    event_type = attributes.get("type")
    if event_type != FINALIZED:
        raise IgnoredEvent(f"event type {event_type!r} is not {FINALIZED}")
    data = _load_data(data)
    if not isinstance(data, Mapping):
        raise MalformedEvent("the event data is not a JSON object")
    bucket = _text(data, "bucket")
    name = _text(data, "name")
    if "\r" in name or "\n" in name:
        raise MalformedEvent("object names cannot contain CR or LF")
    generation = _integer(data, "generation", required=True)
    assert generation is not None
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise MalformedEvent("'metadata' is not a JSON object")
    content_type = data.get("contentType")
    return StorageObjectEvent(
        event_id=str(attributes.get("id", "")),
        bucket=bucket,
        name=name,
        generation=generation,
        size=_integer(data, "size", required=False),
        content_type=content_type if isinstance(content_type, str) else None,
        metadata={str(key): str(value) for key, value in metadata.items()},
    )
