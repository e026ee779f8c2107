"""Build CloudEvents exactly as Eventarc delivers Cloud Storage events over HTTP.

Shape (see README "Events"): binary content mode, ``ce-*`` headers with the
``ce-subject`` percent-encoded as the CloudEvents HTTP binding requires, and the
object resource as the JSON body with int64 fields (generation, metageneration,
size) as strings.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from thumbnailer.events import DELETED, FINALIZED

__all__ = ["DELETED", "FINALIZED", "binary_event", "event_attributes", "storage_object_data", "structured_event"]

# Fields of google.events.cloud.storage.v1.StorageObjectData, in JSON names.
STORAGE_OBJECT_FIELDS = frozenset(
    {
        "kind", "id", "selfLink", "mediaLink", "name", "bucket", "generation", "metageneration", "contentType",
        "size", "md5Hash", "crc32c", "etag", "storageClass", "timeCreated", "updated", "timeDeleted",
        "timeStorageClassUpdated", "metadata", "cacheControl", "contentEncoding", "contentDisposition",
        "contentLanguage", "componentCount", "customerEncryption", "kmsKeyName", "eventBasedHold",
        "temporaryHold", "retentionExpirationTime",
    }
)  # fmt: skip
INT64_FIELDS = ("generation", "metageneration", "size", "componentCount")


def percent_encode_header(value: str) -> str:
    """CloudEvents HTTP binding, 3.1.3.2: encode space, '"', '%' and anything outside printable ASCII."""
    out: list[str] = []
    for char in value:
        if char in ' "%' or not 0x21 <= ord(char) <= 0x7E:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
        else:
            out.append(char)
    return "".join(out)


def storage_object_data(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The event data for an object resource: Eventarc's fields, int64 values as strings."""
    data = {key: value for key, value in resource.items() if key in STORAGE_OBJECT_FIELDS}
    for key in INT64_FIELDS:
        if key in data and data[key] is not None:
            data[key] = str(data[key])
    return data


def new_event_id() -> str:
    return str(secrets.randbelow(10**17 - 10**16) + 10**16)  # Eventarc ids look like 14656529786338331


def event_attributes(
    data: Mapping[str, Any], *, event_type: str = FINALIZED, event_id: str | None = None, time: str | None = None
) -> dict[str, str]:
    bucket = str(data.get("bucket", ""))
    return {
        "specversion": "1.0",
        "id": event_id or new_event_id(),
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "type": event_type,
        "subject": f"objects/{data.get('name', '')}",
        "time": time or str(data.get("updated") or datetime.now(UTC).isoformat().replace("+00:00", "Z")),
        "bucket": bucket,
    }


def binary_event(attributes: Mapping[str, str], data: Any) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode delivery, the mode Eventarc uses."""
    headers = {"Content-Type": "application/json"}
    headers.update({f"ce-{key}": percent_encode_header(value) for key, value in attributes.items()})
    return headers, json.dumps(data, ensure_ascii=False).encode("utf-8")


def structured_event(attributes: Mapping[str, str], data: Any) -> tuple[dict[str, str], bytes]:
    """Headers and body of a structured-mode delivery (the whole event as one JSON document)."""
    document = {**attributes, "datacontenttype": "application/json", "data": data}
    return {"Content-Type": "application/cloudevents+json"}, json.dumps(document, ensure_ascii=False).encode()
