"""Turn what Eventarc delivers into a typed ``StorageObjectEvent``.

The object name comes from the event data, never from ``ce-subject``: the CloudEvents
HTTP binding percent-encodes header values, and the data carries the name as is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from thumbnailer.errors import IgnoredEvent, MalformedEvent
from thumbnailer.logs import shown
from thumbnailer.naming import MAX_OBJECT_NAME_BYTES
from thumbnailer.parsers import parse_bucket

FINALIZED = "google.cloud.storage.object.v1.finalized"
#: A live generation deleted, or overwritten (buckets without versioning): its data is
#: the deleted generation's object resource.
DELETED = "google.cloud.storage.object.v1.deleted"
# Cloud Storage's generations and sizes are int64: an event with more digits was not
# sent by Eventarc (and Python refuses to read a string of over 4300 digits as a number).
_MAX_INT64 = 2**63 - 1


@dataclass(frozen=True)
class StorageObjectEvent:
    event_id: str
    bucket: str
    name: str
    generation: int
    size: int | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: When the change happened (``ce-time``); None if the event says nothing usable.
    time: datetime | None = None
    #: True for ``object.v1.deleted``: this generation is gone, not new.
    deleted: bool = False


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
    number: int | None = None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= len(str(_MAX_INT64)):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    if number is None or not 0 <= number <= _MAX_INT64:
        raise MalformedEvent(f"{key!r} is {shown(value)}, not a non-negative 64-bit integer")
    return number


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"the event data has no {key!r}")
    return value


def _object_name(data: Mapping[str, Any]) -> str:
    """A name Cloud Storage can hold: valid UTF-8, at most 1024 bytes, no CR or LF. Anything
    else was not sent by Eventarc; a lone surrogate would crash the storage client on
    every delivery, and a huge name would land whole in the log line."""
    name = _text(data, "name")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise MalformedEvent("the object name is not valid Unicode (it holds a lone surrogate)") from None
    if size > MAX_OBJECT_NAME_BYTES:
        raise MalformedEvent(f"the object name is {size} bytes; Cloud Storage allows {MAX_OBJECT_NAME_BYTES}")
    if "\r" in name or "\n" in name:
        raise MalformedEvent("object names cannot contain CR or LF")
    return name


def _bucket(data: Mapping[str, Any]) -> str:
    bucket = _text(data, "bucket")
    try:
        return parse_bucket(bucket)
    except ValueError:
        raise MalformedEvent(f"'bucket' is {shown(bucket)}, not a Cloud Storage bucket name") from None


def _event_time(value: Any) -> datetime | None:
    """``ce-time`` (RFC 3339). Only MAX_RETRY_AGE needs it, so a missing or unreadable
    time is no reason to refuse the event: its retries then end at Eventarc's 24 hours."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and len(value) <= 64:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_event(attributes: Mapping[str, Any], data: Any) -> StorageObjectEvent:
    """Validate a CloudEvent's attributes and data; raise ``IgnoredEvent`` or ``MalformedEvent``."""
    event_type = attributes.get("type")
    if event_type not in (FINALIZED, DELETED):
        raise IgnoredEvent(f"event type {shown(event_type)} is neither {FINALIZED} nor {DELETED}")
    data = _load_data(data)
    if not isinstance(data, Mapping):
        raise MalformedEvent("the event data is not a JSON object")
    bucket = _bucket(data)
    name = _object_name(data)
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
        time=_event_time(attributes.get("time")),
        deleted=event_type == DELETED,
    )
