"""Thumbnails follow their source: a deleted generation's outputs go, a newer one's never.

On the in-memory store (its deletes are conditional on the generation, as Cloud
Storage's are); tests/integration runs the same orders through the served function.
"""

from dataclasses import replace

import pytest
from PIL import Image

from tests.images import encode, photo_like
from tests.memory_store import MemoryStore
from thumbnailer import errors
from thumbnailer.config import Settings
from thumbnailer.events import StorageObjectEvent
from thumbnailer.outcomes import Outcome
from thumbnailer.pipeline import SOURCE_GENERATION_KEY, process_upload, record_failure
from thumbnailer.removal import remove_deleted_generation

INPUT, OUTPUT = "in-bucket", "out-bucket"
SETTINGS = Settings(output_bucket=OUTPUT, delete_thumbnails_with_source=True)
JPEG = encode(photo_like(320, 240), "JPEG")
TRANSPARENT_PNG = encode(Image.new("RGBA", (320, 240), (10, 200, 30, 128)), "PNG")


def upload(store: MemoryStore, data: bytes = JPEG, name: str = "cat.img") -> StorageObjectEvent:
    generation = store.put(INPUT, name, data)
    return StorageObjectEvent("event", INPUT, name, generation, size=len(data))


def deleted(event: StorageObjectEvent) -> StorageObjectEvent:
    return replace(event, event_id="deleted", deleted=True)


def made_from(store: MemoryStore) -> dict[str, str]:
    """Each output's name -> the source generation it was made from."""
    return {name: store.objects[OUTPUT, name].metadata[SOURCE_GENERATION_KEY] for name in store.names(OUTPUT)}


def test_a_deleted_upload_takes_its_thumbnails_and_records_with_it() -> None:
    store = MemoryStore()
    settings = SETTINGS._replace(imaging=SETTINGS.imaging._replace(sizes=(*SETTINGS.imaging.sizes,)))
    event = upload(store)
    process_upload(event, settings, store)
    record_failure(event, errors.GaveUp("for the test"), settings, store)  # as if a give-up was recorded
    store.put(OUTPUT, "labels/cat.img.json", b"{}", {**store.objects[OUTPUT, "cat.img_200x200.jpg"].metadata})
    store.put(OUTPUT, "someone-elses.jpg", b"x")
    store.remove(INPUT, event.name)
    removal = remove_deleted_generation(deleted(event), settings, store)
    assert sorted(removal.removed) == ["cat.img_200x200.jpg", "failed/cat.img.json", "labels/cat.img.json"]
    assert store.names(OUTPUT) == ["someone-elses.jpg"]


@pytest.mark.parametrize("order", ["finalized first", "deleted first"])
def test_an_overwrite_keeps_the_new_generation_whatever_the_order(order: str) -> None:
    store = MemoryStore()
    old = upload(store)
    process_upload(old, SETTINGS, store)
    new = upload(store)  # the overwrite: Cloud Storage sends deleted for old, finalized for new
    if order == "finalized first":
        assert process_upload(new, SETTINGS, store).outcome is Outcome.REPLACED
        assert remove_deleted_generation(deleted(old), SETTINGS, store).removed == ()
    else:
        assert remove_deleted_generation(deleted(old), SETTINGS, store).removed == ("cat.img_200x200.jpg",)
        assert process_upload(new, SETTINGS, store).outcome is Outcome.CREATED
    assert made_from(store) == {"cat.img_200x200.jpg": str(new.generation)}


def test_a_thumbnail_replaced_between_the_look_and_the_delete_stays() -> None:
    store = MemoryStore()
    old = upload(store)
    process_upload(old, SETTINGS, store)
    new = upload(store)
    # The new generation's event is written between the deleted event's stat and its delete.
    store.before("delete", lambda: process_upload(new, SETTINGS, store))
    assert remove_deleted_generation(deleted(old), SETTINGS, store).removed == ()
    assert made_from(store) == {"cat.img_200x200.jpg": str(new.generation)}


def test_nothing_is_removed_when_the_setting_is_off() -> None:
    store = MemoryStore()
    event = upload(store)
    process_upload(event, SETTINGS, store)
    with pytest.raises(errors.IgnoredEvent, match="DELETE_THUMBNAILS_WITH_SOURCE"):
        remove_deleted_generation(deleted(event), SETTINGS._replace(delete_thumbnails_with_source=False), store)
    assert store.names(OUTPUT) == ["cat.img_200x200.jpg"]


def test_the_functions_own_output_deleted_is_ignored() -> None:
    store = MemoryStore()
    event = upload(store)
    process_upload(event, SETTINGS, store)
    thumbnail = store.objects[OUTPUT, "cat.img_200x200.jpg"]
    own = StorageObjectEvent("e", OUTPUT, "cat.img_200x200.jpg", thumbnail.generation, metadata=thumbnail.metadata)
    with pytest.raises(errors.IgnoredEvent):
        remove_deleted_generation(deleted(own), SETTINGS, store)


def test_a_newer_generations_success_removes_the_older_failure_record() -> None:
    store = MemoryStore()
    bad = upload(store, b"not an image")
    with pytest.raises(errors.NotAnImage):
        process_upload(bad, SETTINGS, store)
    assert "failed/cat.img.json" in store.names(OUTPUT)
    good = upload(store)
    process_upload(good, SETTINGS, store)
    assert store.names(OUTPUT) == ["cat.img_200x200.jpg"]


def test_an_older_generations_failure_record_stays_when_the_new_one_fails_too() -> None:
    store = MemoryStore()
    with pytest.raises(errors.NotAnImage):
        process_upload(upload(store, b"not an image"), SETTINGS, store)
    newer = upload(store, b"still not an image")
    with pytest.raises(errors.NotAnImage):
        process_upload(newer, SETTINGS, store)
    assert made_from(store) == {"failed/cat.img.json": str(newer.generation)}


def test_an_overwrite_that_changes_the_extension_removes_the_old_thumbnail() -> None:
    store = MemoryStore()
    settings = SETTINGS._replace(delete_thumbnails_with_source=False)  # not needed for this
    transparent = upload(store, TRANSPARENT_PNG)
    process_upload(transparent, settings, store)
    assert store.names(OUTPUT) == ["cat.img_200x200.webp"]
    opaque = upload(store, JPEG)
    process_upload(opaque, settings, store)
    assert made_from(store) == {"cat.img_200x200.jpg": str(opaque.generation)}


def test_a_stale_event_never_removes_the_newer_generations_thumbnail() -> None:
    store = MemoryStore()
    old = upload(store, TRANSPARENT_PNG)

    def overwritten_and_processed() -> None:
        new = upload(store, JPEG)
        store.objects[INPUT, old.name] = store.objects[INPUT, new.name]
        process_upload(new, SETTINGS, store)

    # The old generation is read, then overwritten and the new one processed before the
    # old event writes: its cleanup looks at the new .jpg and leaves it.
    store.before("write", overwritten_and_processed)
    process_upload(old, SETTINGS, store)
    assert made_from(store)["cat.img_200x200.jpg"] != str(old.generation)


def test_a_name_whose_other_extension_would_be_too_long_is_still_thumbnailed() -> None:
    store = MemoryStore()
    name = "é" * 504 + ".jpg"  # _200x200.jpg makes 1,024 bytes; _200x200.webp would be 1,025
    event = upload(store, JPEG, name)
    assert process_upload(event, SETTINGS, store).outcome is Outcome.CREATED
