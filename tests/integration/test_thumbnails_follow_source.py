"""Thumbnails follow their source, through the served function, on the emulator.

The function runs under functions-framework in its own process; Cloud Storage's rule
that a DELETE with ``ifGenerationMatch`` of an old generation is refused comes from
CloudStorageRules (fake-gcs-server deletes anyway). An overwrite sends ``deleted`` for
the old generation and ``finalized`` for the new one, in no guaranteed order: both here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.cloud import storage
from PIL import Image

from localdev.events import DELETED, event_attributes, storage_object_data
from localdev.gcs import FakeGcsServer
from localdev.gcs_rules import CloudStorageRules
from tests.images import encode, photo_like
from tests.integration.conftest import Buckets, Served, event_for
from thumbnailer.pipeline import SOURCE_GENERATION_KEY

JPEG = encode(photo_like(320, 240), "JPEG")
TRANSPARENT_PNG = encode(Image.new("RGBA", (320, 240), (10, 200, 30, 128)), "PNG")


@pytest.fixture
def function(serve: Callable[..., Served], rules: CloudStorageRules) -> Served:
    return serve(rules.url, DELETE_THUMBNAILS_WITH_SOURCE="true", LOG_LEVEL="INFO")


def uploaded(storage_client: storage.Client, buckets: Buckets, data: bytes, name: str = "cat.img") -> storage.Blob:
    blob = storage_client.bucket(buckets.input).blob(name)
    blob.upload_from_string(data, content_type="application/octet-stream")
    return blob


def deleted_event(resource: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """What Eventarc delivers when that generation is deleted: its own object resource."""
    data = storage_object_data(resource)
    return event_attributes(data, event_type=DELETED), data


def outputs(storage_client: storage.Client, buckets: Buckets) -> dict[str, str]:
    """Each output's name -> the source generation it was made from."""
    return {blob.name: blob.metadata[SOURCE_GENERATION_KEY] for blob in storage_client.list_blobs(buckets.output)}


@pytest.mark.parametrize("order", ["finalized first", "deleted first"])
def test_an_overwrite_leaves_exactly_the_new_generations_thumbnail(
    order: str, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets, function: Served
) -> None:
    uploaded(storage_client, buckets, JPEG)
    status, line = function.deliver(*event_for(gcs, buckets.input, "cat.img"))
    assert (status, line["outcome"]) == (200, "created")
    old_resource = gcs.object_resource(buckets.input, "cat.img")
    new = uploaded(storage_client, buckets, JPEG)
    finalized = event_for(gcs, buckets.input, "cat.img")
    deleted = deleted_event(old_resource)
    if order == "finalized first":
        assert function.deliver(*finalized)[1]["outcome"] == "replaced"
        status, line = function.deliver(*deleted)
        assert (status, line["outcome"], line["removed"]) == (200, "removed", [])
    else:
        status, line = function.deliver(*deleted)
        assert (status, line["outcome"], line["removed"]) == (200, "removed", ["cat.img_200x200.jpg"])
        assert line["generation"] == old_resource["generation"]
        assert function.deliver(*finalized)[1]["outcome"] == "created"
    assert outputs(storage_client, buckets) == {"cat.img_200x200.jpg": str(new.generation)}


def test_a_deleted_upload_takes_its_thumbnail_and_failure_record(
    gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets, function: Served
) -> None:
    uploaded(storage_client, buckets, JPEG, "photo.jpg")
    uploaded(storage_client, buckets, b"not an image", "notes.jpg")
    for name in ("photo.jpg", "notes.jpg"):
        function.deliver(*event_for(gcs, buckets.input, name))
    assert sorted(outputs(storage_client, buckets)) == ["failed/notes.jpg.json", "photo.jpg_200x200.jpg"]
    resources = {name: gcs.object_resource(buckets.input, name) for name in ("photo.jpg", "notes.jpg")}
    for name, resource in resources.items():
        storage_client.bucket(buckets.input).blob(name).delete()
        status, line = function.deliver(*deleted_event(resource))
        assert (status, line["outcome"], line["object"]) == (200, "removed", name)
    assert outputs(storage_client, buckets) == {}
    # A redelivery of the same deleted event finds nothing left, and is acknowledged.
    status, line = function.deliver(*deleted_event(resources["photo.jpg"]))
    assert (status, line["removed"]) == (200, [])


def test_a_newer_generation_cleans_up_the_older_ones_leftovers(
    gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets, serve: Callable[..., Served],
    rules: CloudStorageRules,
) -> None:  # fmt: skip
    """Without DELETE_THUMBNAILS_WITH_SOURCE: a failure record, and a thumbnail under the
    extension an older generation had (a transparent PNG made WebP under auto)."""
    plain = serve(rules.url)
    uploaded(storage_client, buckets, b"not an image")
    plain.deliver(*event_for(gcs, buckets.input, "cat.img"))
    uploaded(storage_client, buckets, TRANSPARENT_PNG)
    assert plain.deliver(*event_for(gcs, buckets.input, "cat.img"))[1]["outcome"] == "created"
    assert sorted(outputs(storage_client, buckets)) == ["cat.img_200x200.webp"]  # the record is gone
    opaque = uploaded(storage_client, buckets, JPEG)
    assert plain.deliver(*event_for(gcs, buckets.input, "cat.img"))[1]["outcome"] == "created"
    assert outputs(storage_client, buckets) == {"cat.img_200x200.jpg": str(opaque.generation)}


def test_deleted_events_are_acknowledged_and_ignored_when_the_setting_is_off(
    gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets, serve: Callable[..., Served],
    rules: CloudStorageRules,
) -> None:  # fmt: skip
    plain = serve(rules.url)
    uploaded(storage_client, buckets, JPEG)
    plain.deliver(*event_for(gcs, buckets.input, "cat.img"))
    status, line = plain.deliver(*deleted_event(gcs.object_resource(buckets.input, "cat.img")))
    assert (status, line["outcome"]) == (200, "skipped")
    assert "DELETE_THUMBNAILS_WITH_SOURCE" in line["message"]
    assert list(outputs(storage_client, buckets)) == ["cat.img_200x200.jpg"]
