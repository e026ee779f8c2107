"""`python -m thumbnailer backfill` against fake-gcs-server: 500 uploads, interrupted, resumed.

The command runs as its own process, exactly as a user runs it; only the emulator's
address and the function's settings come from the environment.
"""

from __future__ import annotations

import io
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import storage
from PIL import Image

from localdev.faults import Fault, FaultProxy, RequestKind
from localdev.gcs import FakeGcsServer
from tests.integration.conftest import Buckets, FunctionFactory, event_for
from tests.integration.helpers import start_backfill, upload_many
from thumbnailer.pipeline import SOURCE_GENERATION_KEY, SOURCE_OBJECT_KEY

UPLOADS = 500


def small_jpeg(index: int) -> bytes:
    image = Image.new("RGB", (480, 360), ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def upload_three(bucket: storage.Bucket, folder: str) -> None:
    for index in range(3):
        bucket.blob(f"{folder}{index}.jpg").upload_from_string(small_jpeg(index), content_type="image/jpeg")


@pytest.fixture
def uploaded(storage_client: storage.Client, buckets: Buckets) -> list[str]:
    """500 photos, a text file posing as a photo, and a thumbnail someone copied back in."""
    bucket = storage_client.bucket(buckets.input)
    names = [f"photos/{index:03d}.jpg" for index in range(UPLOADS)]
    upload_many(bucket, names, small_jpeg)
    bucket.blob("photos/notes.jpg").upload_from_string(b"not a photo", content_type="image/jpeg")
    copied_back = bucket.blob("photos/copied_200x200.jpg")
    copied_back.metadata = {SOURCE_OBJECT_KEY: "photos/copied.jpg"}  # the function's own output: never processed
    copied_back.upload_from_string(small_jpeg(0), content_type="image/jpeg")
    return names


def backfill(
    gcs: FakeGcsServer, buckets: Buckets, *arguments: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return start_backfill(gcs.url, buckets.output, buckets.input, *arguments, env=env)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=180)
    return process.returncode, stdout, stderr


def thumbnails(storage_client: storage.Client, buckets: Buckets) -> dict[str, storage.Blob]:
    blobs = storage_client.list_blobs(buckets.output)
    return {blob.name: blob for blob in blobs if not blob.name.startswith("failed/")}


def test_backfill_interrupted_halfway_then_resumed_makes_every_thumbnail_once(
    gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets, uploaded: list[str]
) -> None:
    # One worker, so the interruption surely lands halfway.
    first = backfill(gcs, buckets, "--workers", "1")
    deadline = time.monotonic() + 120
    while len(thumbnails(storage_client, buckets)) < UPLOADS // 2:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    status, stdout, stderr = finish(first)
    assert status == 130, stderr
    assert "interrupted: run the same command again" in stdout
    made_first = thumbnails(storage_client, buckets)
    assert UPLOADS // 2 <= len(made_first) < UPLOADS

    status, stdout, stderr = finish(backfill(gcs, buckets, "--workers", "4"))
    assert status == 1, stderr  # the text file cannot be thumbnailed
    assert f"listed {UPLOADS + 2} objects: {len(made_first)} already had thumbnails" in stdout
    assert f"thumbnailed {UPLOADS - len(made_first)}, skipped 0, failed 1, errors 0, not reached 0" in stdout
    assert "not_an_image 1" in stdout

    made = thumbnails(storage_client, buckets)
    assert sorted(made) == sorted(f"{name}_200x200.jpg" for name in uploaded)
    for name, blob in made.items():
        assert blob.metadata[SOURCE_OBJECT_KEY] == name.removesuffix("_200x200.jpg")
        assert blob.metadata[SOURCE_GENERATION_KEY]
    # Create-only: what the interrupted run wrote was kept, not written again.
    assert {name: made[name].generation for name in made_first} == {
        name: blob.generation for name, blob in made_first.items()
    }
    assert storage_client.bucket(buckets.output).get_blob("failed/photos/notes.jpg.json") is not None

    # A third run has nothing left to read: the bad file's failure is on record.
    status, stdout, stderr = finish(backfill(gcs, buckets))
    assert status == 0, stderr
    assert f"{UPLOADS} already had thumbnails, 1 had a failure on record, 1 were folders" in stdout
    assert "0 to do" in stdout


def test_dry_run_counts_and_writes_nothing(
    gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets, uploaded: list[str]
) -> None:
    status, stdout, stderr = finish(backfill(gcs, buckets, "--dry-run", "--prefix", "photos/0"))
    assert status == 0, stderr
    assert "listed 100 objects: 0 already had thumbnails" in stdout
    assert "100 to do (dry run: nothing read or written)" in stdout
    assert list(storage_client.list_blobs(buckets.output)) == []


def test_bad_settings_and_a_missing_output_bucket_are_named(gcs: FakeGcsServer, buckets: Buckets) -> None:
    status, _, stderr = finish(backfill(gcs, buckets, "--workers", "0"))
    assert status == 2
    assert "--workers" in stderr
    missing = Buckets(input=buckets.input, output="no-such-bucket-here")
    status, stdout, stderr = finish(backfill(gcs, missing))
    assert status == 1
    assert "no-such-bucket-here" in stdout + stderr


def test_backfill_deletes_uploads_only_when_told_on_its_command_line(
    gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    upload_three(storage_client.bucket(buckets.input), "old/")
    environment_says_delete = backfill(gcs, buckets, env={"DELETE_SOURCE": "true"})
    assert finish(environment_says_delete)[0] == 0
    assert len(list(storage_client.list_blobs(buckets.input))) == 3  # DELETE_SOURCE alone deletes nothing
    for blob in storage_client.list_blobs(buckets.output):
        blob.delete()
    status, _, stderr = finish(backfill(gcs, buckets, "--delete-source"))
    assert status == 0, stderr
    assert list(storage_client.list_blobs(buckets.input)) == []
    assert len(list(storage_client.list_blobs(buckets.output))) == 3


def test_an_upload_overwritten_since_its_thumbnail_is_done_again(
    gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    bucket = storage_client.bucket(buckets.input)
    upload_three(bucket, "p/")
    assert finish(backfill(gcs, buckets))[0] == 0
    replaced = bucket.blob("p/1.jpg")
    replaced.upload_from_string(small_jpeg(7), content_type="image/jpeg")  # its event was lost
    status, stdout, stderr = finish(backfill(gcs, buckets))
    assert status == 0, stderr
    assert "2 already had thumbnails" in stdout
    assert "1 to do" in stdout
    thumbnail = storage_client.bucket(buckets.output).get_blob("p/1.jpg_200x200.jpg")
    assert thumbnail.metadata[SOURCE_GENERATION_KEY] == str(replaced.generation)


def test_an_upload_the_function_gave_up_on_is_redone_by_a_plain_backfill(
    gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets, make_function: FunctionFactory
) -> None:
    """A give-up (MAX_RETRY_AGE) was no fault of the file, unlike a bad file's failure: the
    next backfill retries it without being asked, and leaves the bad file alone."""
    bucket = storage_client.bucket(buckets.input)
    bucket.blob("late.jpg").upload_from_string(small_jpeg(1), content_type="image/jpeg")
    bucket.blob("notes.jpg").upload_from_string(b"not a photo", content_type="image/jpeg")
    hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    with FaultProxy(gcs.url, {Fault.UNAVAILABLE: 1.0}, kinds=frozenset({RequestKind.DOWNLOAD})) as proxy:
        outage = make_function(STORAGE_EMULATOR_HOST=proxy.url, STORAGE_RETRY_SECONDS="1")
        attributes, data = event_for(gcs, buckets.input, "late.jpg")
        assert outage.deliver_data({**attributes, "time": hours_ago}, data).record["reason"] == "gave_up"
    assert make_function().deliver(buckets.input, "notes.jpg").record["reason"] == "not_an_image"

    status, stdout, stderr = finish(backfill(gcs, buckets))
    assert status == 0, stderr
    assert "1 had a failure on record" in stdout
    assert "thumbnailed 1, skipped 0, failed 0" in stdout
    thumbnail = storage_client.bucket(buckets.output).get_blob("late.jpg_200x200.jpg")
    assert thumbnail is not None
