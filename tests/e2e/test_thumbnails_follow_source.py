"""make run with DELETE_THUMBNAILS_WITH_SOURCE=true: a deleted upload's thumbnail goes too,
through the whole local pipeline (the emulator's delete notification, the local Eventarc's
second event type, the function behind CloudStorageRules)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localdev.stack import Stack
from tests.e2e.conftest import started_stack, wait_for, wait_for_object
from tests.images import encode, photo_like

JPEG = encode(photo_like(320, 240), "JPEG")


@pytest.fixture(scope="module")
def deleting_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from started_stack(tmp_path_factory, {"DELETE_THUMBNAILS_WITH_SOURCE": "true"})


def test_a_deleted_upload_takes_its_thumbnail_with_it(deleting_stack: Stack, unique: str) -> None:
    client = deleting_stack.storage_client()
    settings = deleting_stack.settings
    name = f"follow/{unique}.jpg"
    source = client.bucket(settings.input_bucket).blob(name)
    source.upload_from_string(JPEG, content_type="image/jpeg")
    wait_for_object(client, settings.output_bucket, f"{name}_200x200.jpg")
    source.delete()
    wait_for(
        lambda: client.bucket(settings.output_bucket).get_blob(f"{name}_200x200.jpg") is None,
        "the thumbnail removed with its source",
    )
