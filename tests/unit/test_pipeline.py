"""process_upload's decisions, on the in-memory store: each case in milliseconds.

The write decision table (what an existing object under the thumbnail's name means) is
one parametrized test; races are injected between two of the pipeline's own requests.
tests/integration runs the same pipeline against the storage emulator.
"""

from collections.abc import Callable
from typing import Any

import pytest

from tests.images import encode, photo_like
from tests.memory_store import MemoryStore
from thumbnailer import errors
from thumbnailer.config import Settings
from thumbnailer.events import StorageObjectEvent
from thumbnailer.fingerprints import settings_fingerprint
from thumbnailer.outcomes import Outcome
from thumbnailer.pipeline import (
    FAILURE_REASON_KEY,
    SETTINGS_KEY,
    SOURCE_BUCKET_KEY,
    SOURCE_GENERATION_KEY,
    SOURCE_OBJECT_KEY,
    give_up,
    process_upload,
)

INPUT, OUTPUT = "in-bucket", "out-bucket"
JPEG = encode(photo_like(320, 240), "JPEG")
SETTINGS = Settings(output_bucket=OUTPUT)
THUMBNAIL = "cat.jpg_200x200.jpg"


class RecordingPublisher:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def publish(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def uploaded(store: MemoryStore, data: bytes = JPEG, name: str = "cat.jpg") -> StorageObjectEvent:
    generation = store.put(INPUT, name, data)
    return StorageObjectEvent("event-1", INPUT, name, generation, size=len(data))


def ours(source: str, generation: int, fingerprint: str | None = None) -> dict[str, str]:
    """Metadata of a thumbnail the function made; by default under SETTINGS."""
    made = {SOURCE_BUCKET_KEY: INPUT, SOURCE_OBJECT_KEY: source, SOURCE_GENERATION_KEY: str(generation)}
    return {**made, SETTINGS_KEY: fingerprint or settings_fingerprint(SETTINGS.imaging, SETTINGS.imaging.sizes[0])}


# What is under the thumbnail's name before the write -> the outcome, and whether it changes.
EXISTING: dict[str, tuple[Callable[[int], dict[str, str] | None], Outcome | type[Exception], bool]] = {
    "nothing": (lambda generation: None, Outcome.CREATED, True),
    "this generation's thumbnail": (lambda generation: ours("cat.jpg", generation), Outcome.DUPLICATE, False),
    "this generation's, under other settings": (
        lambda generation: ours("cat.jpg", generation, fingerprint="0123456789abcdef"),
        Outcome.REPLACED,
        True,
    ),
    "an older generation's": (lambda generation: ours("cat.jpg", generation - 1), Outcome.REPLACED, True),
    "a newer generation's": (lambda generation: ours("cat.jpg", generation + 1), Outcome.SUPERSEDED, False),
    "another upload's thumbnail": (lambda generation: ours("dog.jpg", 5), errors.OutputNameTaken, False),
    "an object the function did not write": (lambda generation: {}, Outcome.REPLACED, True),
}


@pytest.mark.parametrize("existing", list(EXISTING))
def test_the_write_decision_table(existing: str) -> None:
    store = MemoryStore()
    event = uploaded(store)
    metadata, expected, changes = EXISTING[existing]
    before = metadata(event.generation)
    if before is not None:
        store.put(OUTPUT, THUMBNAIL, b"old", before)
    generation_before = store.objects.get((OUTPUT, THUMBNAIL))
    if isinstance(expected, type):
        with pytest.raises(expected):
            process_upload(event, SETTINGS, store)
    else:
        assert process_upload(event, SETTINGS, store).outcome is expected
    after = store.objects[OUTPUT, THUMBNAIL]
    assert (after is not generation_before) is changes
    if changes:
        assert after.metadata[SOURCE_GENERATION_KEY] == str(event.generation)
        assert after.data[:2] == b"\xff\xd8"


def test_an_object_deleted_between_the_conflict_and_the_look_is_created_after_all() -> None:
    store = MemoryStore()
    event = uploaded(store)
    store.put(OUTPUT, THUMBNAIL, b"old", ours("cat.jpg", event.generation - 1))
    store.before("stat", lambda: store.remove(OUTPUT, THUMBNAIL))  # the old generation's deleted event
    assert process_upload(event, SETTINGS, store).outcome is Outcome.CREATED
    assert store.objects[OUTPUT, THUMBNAIL].metadata[SOURCE_GENERATION_KEY] == str(event.generation)


def test_an_object_replaced_between_the_look_and_the_replacement_is_looked_at_again() -> None:
    store = MemoryStore()
    event = uploaded(store)
    store.put(OUTPUT, THUMBNAIL, b"old", ours("cat.jpg", event.generation - 1))
    # The first write (create-only) conflicts; before the second, conditional one, a
    # concurrent delivery of a newer generation puts its thumbnail there: it wins.
    store.before("write", lambda: None)
    store.before("write", lambda: store.put(OUTPUT, THUMBNAIL, b"newer", ours("cat.jpg", event.generation + 1)))
    assert process_upload(event, SETTINGS, store).outcome is Outcome.SUPERSEDED
    assert store.objects[OUTPUT, THUMBNAIL].data == b"newer"  # never overwritten


def test_a_name_that_keeps_changing_while_writing_is_retried() -> None:
    store = MemoryStore()
    event = uploaded(store)
    store.put(OUTPUT, THUMBNAIL, b"old", ours("cat.jpg", event.generation - 1))
    store.before("write", lambda: None)
    for _ in range(2):  # another writer of an older generation, before each conditional write
        store.before("write", lambda: store.put(OUTPUT, THUMBNAIL, b"other", ours("cat.jpg", event.generation - 1)))
    with pytest.raises(errors.StorageUnavailable, match="changed while writing"):
        process_upload(event, SETTINGS, store)
    assert store.objects[OUTPUT, THUMBNAIL].data == b"other"


def test_a_bad_file_is_recorded_and_published_once() -> None:
    store, publisher = MemoryStore(), RecordingPublisher()
    event = uploaded(store, b"not an image", "notes.jpg")
    with pytest.raises(errors.NotAnImage):
        process_upload(event, SETTINGS, store, publisher)
    record = store.objects[OUTPUT, "failed/notes.jpg.json"]
    assert record.metadata[FAILURE_REASON_KEY] == "not_an_image"
    assert [(m["event"], m["reason"]) for m in publisher.messages] == [("thumbnails.failed", "not_an_image")]


def test_a_skipped_upload_is_neither_recorded_nor_published() -> None:
    store, publisher = MemoryStore(), RecordingPublisher()
    event = uploaded(store)
    store.remove(INPUT, "cat.jpg")
    with pytest.raises(errors.ObjectGone) as raised:
        process_upload(event, SETTINGS, store, publisher)
    assert raised.value.outcome is Outcome.SKIPPED
    assert (store.names(OUTPUT), publisher.messages) == ([], [])


def test_ready_is_published_after_the_writes_and_the_source_deleted_last() -> None:
    store, publisher = MemoryStore(), RecordingPublisher()
    event = uploaded(store)
    report = process_upload(event, SETTINGS._replace(delete_source=True), store, publisher)
    assert (report.outcome, report.source_deleted) == (Outcome.CREATED, True)
    assert [m["event"] for m in publisher.messages] == ["thumbnails.ready"]
    operations = [(operation, name) for operation, _, name in store.calls]
    # The two stats: an older generation's leftovers (a WebP thumbnail under auto, a
    # failure record), looked for before the source is deleted.
    assert operations == [
        ("read", "cat.jpg"),
        ("write", THUMBNAIL),
        ("stat", "cat.jpg_200x200.webp"),
        ("stat", "failed/cat.jpg.json"),
        ("delete", "cat.jpg"),
    ]
    assert store.names(INPUT) == []


def test_a_stale_event_publishes_nothing_and_deletes_nothing() -> None:
    store, publisher = MemoryStore(), RecordingPublisher()
    event = uploaded(store)
    store.put(OUTPUT, THUMBNAIL, b"newer", ours("cat.jpg", event.generation + 1))
    report = process_upload(event, SETTINGS._replace(delete_source=True), store, publisher)
    assert (report.outcome, report.source_deleted, publisher.messages) == (Outcome.SUPERSEDED, False, [])
    assert store.names(INPUT) == ["cat.jpg"]


def test_backfill_publishes_nothing() -> None:
    store = MemoryStore()
    assert process_upload(uploaded(store), SETTINGS, store, results=None).outcome is Outcome.CREATED


@pytest.mark.parametrize(
    ("name", "metadata", "reason"),
    [
        ("cat.jpg_200x200.jpg", {SOURCE_OBJECT_KEY: "cat.jpg"}, "written by this function"),
        ("failed/x.json", {}, "output folder"),
        ("photos/", {}, "folder placeholder"),
    ],
)
def test_the_function_never_processes_its_own_output(name: str, metadata: dict[str, str], reason: str) -> None:
    store = MemoryStore()
    event = StorageObjectEvent("e", OUTPUT, name, 1, metadata=metadata)
    with pytest.raises(errors.IgnoredEvent, match=reason):
        process_upload(event, SETTINGS._replace(output_prefix=""), store)
    assert store.calls == []  # decided from the event alone


def test_a_give_up_is_on_record_and_published() -> None:
    store, publisher = MemoryStore(), RecordingPublisher()
    event = uploaded(store)
    give_up(event, errors.GaveUp("still failing"), SETTINGS, store, publisher)
    assert store.objects[OUTPUT, "failed/cat.jpg.json"].metadata[FAILURE_REASON_KEY] == "gave_up"
    assert [m["reason"] for m in publisher.messages] == ["gave_up"]
