"""main.process_image through functions-framework, with Eventarc-shaped CloudEvents and fake-gcs-server."""

from __future__ import annotations

import io

import pillow_heif
import pytest
from google.cloud import storage
from PIL import Image

from localdev.events import event_attributes
from localdev.gcs import FakeGcsServer
from localdev.processes import free_port
from tests.images import encode, mean_colour, photo_like
from tests.integration.conftest import Buckets, FunctionClient, FunctionFactory, event_for
from tests.integration.faults import FailingEndpoint
from tests.integration.helpers import JPEG, assert_placeholders, object_names, thumbnail, upload
from thumbnailer.config import ImagingSettings
from thumbnailer.domain import Size
from thumbnailer.fingerprints import settings_fingerprint

LOG_FIELDS = ("severity", "message", "bucket", "object", "generation", "event_id", "outcome", "duration_ms")


@pytest.mark.parametrize("structured", [False, True], ids=["binary", "structured"])
def test_upload_becomes_a_thumbnail(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets, structured: bool
) -> None:
    generation = upload(storage_client, buckets.input, "photos/2026/cat.jpg", JPEG)
    delivery = function.deliver(buckets.input, "photos/2026/cat.jpg", structured=structured)
    assert delivery.status == 200
    blob, image = thumbnail(storage_client, buckets.output, "photos/2026/cat.jpg_200x200.jpg")
    assert (image.format, image.size) == ("JPEG", (200, 200))
    assert blob.content_type == "image/jpeg"
    assert blob.cache_control == "public, max-age=3600"
    metadata = dict(blob.metadata)
    assert_placeholders(metadata.pop("thumbnail-thumbhash"), metadata.pop("thumbnail-color"))
    assert metadata == {
        "thumbnail-source-bucket": buckets.input,
        "thumbnail-source-object": "photos/2026/cat.jpg",
        "thumbnail-source-generation": str(generation),
        "thumbnail-width": "200",
        "thumbnail-height": "200",
        "thumbnail-settings": settings_fingerprint(ImagingSettings(), Size(200, 200)),
    }
    record = delivery.record
    assert all(field in record for field in LOG_FIELDS), record
    assert (record["severity"], record["outcome"]) == ("INFO", "created")
    assert (record["bucket"], record["object"], record["generation"]) == (
        buckets.input,
        "photos/2026/cat.jpg",
        str(generation),
    )
    assert record["bytes_in"] == len(JPEG)
    assert record["bytes_out"] == blob.size


@pytest.mark.parametrize(
    "name",
    ["a/b/c/deep.jpg", "ünïcødé/猫 photo.jpg", "with space.jpg", "odd #?&=+%20%2F name.jpg", "e\u0301.jpg"],
)
def test_object_names_come_from_the_data(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets, name: str
) -> None:
    upload(storage_client, buckets.input, name, JPEG)
    assert function.deliver(buckets.input, name).status == 200
    assert object_names(storage_client, buckets.output) == [f"{name}_200x200.jpg"]


def test_folder_placeholders_are_ignored(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    generation = upload(storage_client, buckets.input, "photos/", b"", "application/x-directory")
    # (fake-gcs-server cannot GET a name ending in "/", so the event data is written out here)
    data = {"bucket": buckets.input, "name": "photos/", "generation": str(generation), "size": "0"}
    delivery = function.deliver_data(event_attributes(data), data)
    assert (delivery.status, delivery.record["reason"]) == (200, "ignored_event")
    assert object_names(storage_client, buckets.output) == []


def test_same_stem_different_extension_do_not_collide(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    upload(storage_client, buckets.input, "a.jpg", JPEG)
    upload(storage_client, buckets.input, "a.png", encode(photo_like(300, 300), "PNG"), "image/png")
    for name in ("a.jpg", "a.png"):
        assert function.deliver(buckets.input, name).status == 200
    assert object_names(storage_client, buckets.output) == ["a.jpg_200x200.jpg", "a.png_200x200.jpg"]


def test_several_sizes_per_upload(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = make_function(THUMBNAIL_SIZES="200x200,64x64", OUTPUT_PREFIX="thumbs/")
    upload(storage_client, buckets.input, "cat.jpg", JPEG)
    assert function.deliver(buckets.input, "cat.jpg").status == 200
    assert object_names(storage_client, buckets.output) == ["thumbs/cat.jpg_200x200.jpg", "thumbs/cat.jpg_64x64.jpg"]
    assert thumbnail(storage_client, buckets.output, "thumbs/cat.jpg_64x64.jpg")[1].size == (64, 64)


def test_failure_records_can_be_switched_off(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = make_function(FAILURE_PREFIX="-")
    upload(storage_client, buckets.input, "text.jpg", b"not an image")
    assert function.deliver(buckets.input, "text.jpg").status == 200
    assert object_names(storage_client, buckets.output) == []


def test_size_cap_is_checked_from_the_event_before_downloading(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = make_function(MAX_INPUT_BYTES="1000000")
    upload(storage_client, buckets.input, "cat.jpg", JPEG)
    attributes, data = event_for(function.gcs, buckets.input, "cat.jpg")
    delivery = function.deliver_data(attributes, {**data, "size": "5000000"})
    assert delivery.status == 200
    assert delivery.record["reason"] == "input_too_large"
    assert "bytes_in" not in delivery.record


def test_object_deleted_before_delivery_is_acknowledged(
    function: FunctionClient, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    upload(storage_client, buckets.input, "gone.jpg", JPEG)
    attributes, data = event_for(gcs, buckets.input, "gone.jpg")
    storage_client.bucket(buckets.input).blob("gone.jpg").delete()
    delivery = function.deliver_data(attributes, data)
    assert delivery.status == 200
    assert (delivery.record["outcome"], delivery.record["reason"]) == ("skipped", "object_gone")
    assert object_names(storage_client, buckets.output) == []


def test_duplicate_delivery_writes_nothing(
    function: FunctionClient, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    upload(storage_client, buckets.input, "cat.jpg", JPEG)
    event = event_for(gcs, buckets.input, "cat.jpg")
    assert function.deliver_data(*event).record["outcome"] == "created"
    first = storage_client.bucket(buckets.output).get_blob("cat.jpg_200x200.jpg")
    again = function.deliver_data(*event)
    assert again.status == 200
    assert (again.record["outcome"], again.record["bytes_out"]) == ("duplicate", 0)
    second = storage_client.bucket(buckets.output).get_blob("cat.jpg_200x200.jpg")
    assert first is not None
    assert second is not None
    assert (second.generation, second.metageneration) == (first.generation, first.metageneration)
    assert object_names(storage_client, buckets.output) == ["cat.jpg_200x200.jpg"]


def test_a_new_upload_replaces_the_old_thumbnail(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    upload(storage_client, buckets.input, "cat.png", encode(Image.new("RGB", (400, 400), "red"), "PNG"))
    assert function.deliver(buckets.input, "cat.png").record["outcome"] == "created"
    generation = upload(storage_client, buckets.input, "cat.png", encode(Image.new("RGB", (400, 400), "blue"), "PNG"))
    assert function.deliver(buckets.input, "cat.png").record["outcome"] == "replaced"
    blob, image = thumbnail(storage_client, buckets.output, "cat.png_200x200.jpg")
    assert blob.metadata["thumbnail-source-generation"] == str(generation)
    assert mean_colour(image, (50, 50, 150, 150))[2] > 200


@pytest.mark.parametrize("prefix", ["", "thumbs/"])
def test_loop_guard_when_output_bucket_is_the_input_bucket(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets, prefix: str
) -> None:
    function = make_function(OUTPUT_BUCKET=buckets.input, OUTPUT_PREFIX=prefix)
    upload(storage_client, buckets.input, "cat.jpg", JPEG)
    upload(storage_client, buckets.input, "bad.jpg", b"not an image")
    assert function.deliver(buckets.input, "cat.jpg").record["outcome"] == "created"
    assert function.deliver(buckets.input, "bad.jpg").record["outcome"] == "failed"
    written = [f"{prefix}cat.jpg_200x200.jpg", "failed/bad.jpg.json"]
    assert object_names(storage_client, buckets.input) == sorted(["bad.jpg", "cat.jpg", *written])
    for name in written:  # Eventarc would now deliver the function's own output
        delivery = function.deliver(buckets.input, name)
        assert (delivery.status, delivery.record["outcome"], delivery.record["reason"]) == (
            200,
            "skipped",
            "ignored_event",
        )
    assert object_names(storage_client, buckets.input) == sorted(["bad.jpg", "cat.jpg", *written])


def test_loop_guard_skips_uploads_into_the_output_folder(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = make_function(OUTPUT_BUCKET=buckets.input, OUTPUT_PREFIX="thumbs/")
    upload(storage_client, buckets.input, "thumbs/by-hand.jpg", JPEG)  # no thumbnail metadata
    assert function.deliver(buckets.input, "thumbs/by-hand.jpg").record["reason"] == "ignored_event"
    assert object_names(storage_client, buckets.input) == ["thumbs/by-hand.jpg"]


@pytest.mark.parametrize(
    ("status", "reason"), [(503, "storage_unavailable"), (429, "storage_unavailable"), (403, "storage_misconfigured")]
)
def test_storage_errors_are_not_acknowledged(
    make_function: FunctionFactory, buckets: Buckets, status: int, reason: str
) -> None:
    with FailingEndpoint(status) as endpoint:
        function = make_function(STORAGE_EMULATOR_HOST=endpoint.url, STORAGE_RETRY_SECONDS="1")
        attributes = event_attributes({"bucket": buckets.input, "name": "cat.jpg"})
        delivery = function.deliver_data(attributes, {"bucket": buckets.input, "name": "cat.jpg", "generation": "1"})
    assert delivery.status == 500
    assert (delivery.record["severity"], delivery.record["outcome"], delivery.record["reason"]) == (
        "ERROR",
        "retry",
        reason,
    )


def test_unreachable_storage_is_not_acknowledged(make_function: FunctionFactory, buckets: Buckets) -> None:
    function = make_function(STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{free_port()}", STORAGE_RETRY_SECONDS="1")
    data = {"bucket": buckets.input, "name": "cat.jpg", "generation": "1"}
    delivery = function.deliver_data(event_attributes(data), data)
    assert delivery.status == 500
    assert delivery.record["reason"] == "storage_unavailable"


def test_delete_source_removes_the_upload_once_its_thumbnails_are_written(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = make_function(DELETE_SOURCE="true", THUMBNAIL_SIZES="200x200,64x64")
    upload(storage_client, buckets.input, "inbox/cat.jpg", JPEG)
    attributes, data = event_for(function.gcs, buckets.input, "inbox/cat.jpg")
    delivery = function.deliver_data(attributes, data)
    assert delivery.status == 200
    assert object_names(storage_client, buckets.input) == []
    assert object_names(storage_client, buckets.output) == ["inbox/cat.jpg_200x200.jpg", "inbox/cat.jpg_64x64.jpg"]
    assert delivery.logs[-1]["source_deleted"] is True
    # A redelivery of the same event: thumbnails already there, the source already gone.
    again = function.deliver_data(attributes, data)
    assert again.status == 200
    assert again.logs[-1]["outcome"] == "skipped"  # the generation can no longer be read


def test_delete_source_keeps_a_newer_upload_and_every_failed_one(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = make_function(DELETE_SOURCE="true")
    upload(storage_client, buckets.input, "dog.jpg", JPEG)
    stale = event_for(function.gcs, buckets.input, "dog.jpg")
    newer = upload(storage_client, buckets.input, "dog.jpg", encode(photo_like(900, 1200), "JPEG"))
    assert function.deliver_data(*stale).status == 200  # its generation is gone: skipped
    assert storage_client.bucket(buckets.input).get_blob("dog.jpg").generation == newer  # untouched
    assert function.deliver(buckets.input, "dog.jpg").status == 200
    assert object_names(storage_client, buckets.input) == []  # the newer one, thumbnailed, then deleted
    upload(storage_client, buckets.input, "notes.jpg", b"not a photo")
    assert function.deliver(buckets.input, "notes.jpg").status == 200
    assert object_names(storage_client, buckets.input) == ["notes.jpg"]  # a failure never deletes


def test_include_and_exclude_patterns_choose_the_uploads(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = make_function(INCLUDE_PATTERNS="photos/*,*.png", EXCLUDE_PATTERNS="photos/tmp/*")
    outcomes = {}
    for name in ("photos/a.jpg", "photos/tmp/b.jpg", "other/c.jpg", "other/d.png"):
        upload(storage_client, buckets.input, name, JPEG)
        delivery = function.deliver(buckets.input, name)
        assert delivery.status == 200
        outcomes[name] = delivery.logs[-1]["outcome"]
    assert outcomes == {
        "photos/a.jpg": "created",
        "photos/tmp/b.jpg": "skipped",  # excluded
        "other/c.jpg": "skipped",  # not included
        "other/d.png": "created",
    }
    assert object_names(storage_client, buckets.output) == ["other/d.png_200x200.jpg", "photos/a.jpg_200x200.jpg"]


def test_content_disposition_and_copied_metadata(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = make_function(THUMBNAIL_CONTENT_DISPOSITION="attachment", COPY_SOURCE_METADATA="true")
    blob = storage_client.bucket(buckets.input).blob("albums/Zoë's cat.jpg")
    blob.metadata = {"album": "summer", "thumbnail-width": "forged"}
    blob.upload_from_string(JPEG, content_type="image/jpeg")
    assert function.deliver(buckets.input, "albums/Zoë's cat.jpg").status == 200
    written, _ = thumbnail(storage_client, buckets.output, "albums/Zoë's cat.jpg_200x200.jpg")
    assert written.content_disposition == (
        "attachment; filename=\"Zo_'s cat.jpg_200x200.jpg\"; filename*=UTF-8''Zo%C3%AB%27s%20cat.jpg_200x200.jpg"
    )
    assert written.metadata["album"] == "summer"
    assert written.metadata["thumbnail-width"] == "200"  # ours win
    assert written.metadata["thumbnail-source-object"] == "albums/Zoë's cat.jpg"


def test_output_name_template(make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets) -> None:
    function = make_function(OUTPUT_NAME="{dir}small/{stem}.{ext}-{width}w.{format}", THUMBNAIL_SIZES="200x200,64x64")
    upload(storage_client, buckets.input, "photos/cat.jpg", JPEG)
    assert function.deliver(buckets.input, "photos/cat.jpg").status == 200
    assert object_names(storage_client, buckets.output) == [
        "photos/small/cat.jpg-200w.jpg",
        "photos/small/cat.jpg-64w.jpg",
    ]


def test_animated_gif_and_heic_uploads(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = make_function(THUMBNAIL_SIZES="200x200,64x64:format=jpeg", KEEP_EXIF_CREDITS="true")
    frames = [Image.new("RGB", (300, 300), colour) for colour in ("red", "lime", "blue")]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0)
    upload(storage_client, buckets.input, "party.gif", gif, content_type="image/gif")
    assert function.deliver(buckets.input, "party.gif").status == 200
    blob, image = thumbnail(storage_client, buckets.output, "party.gif_200x200.webp")
    assert (blob.content_type, image.format, getattr(image, "n_frames", 1)) == ("image/webp", "WEBP", 3)
    _, still = thumbnail(storage_client, buckets.output, "party.gif_64x64.jpg")  # that size asked for JPEG
    assert still.format == "JPEG"

    exif = Image.Exif()
    exif[0x8298] = "(c) 2026 Ada"
    heic = io.BytesIO()
    pillow_heif.from_pillow(photo_like(1600, 1200)).save(heic, quality=85, exif=exif.tobytes())
    upload(storage_client, buckets.input, "IMG_0001.HEIC", heic.getvalue(), content_type="image/heic")
    delivery = function.deliver(buckets.input, "IMG_0001.HEIC")
    assert delivery.status == 200
    assert delivery.logs[-1]["source_format"] == "HEIF"
    _, photo = thumbnail(storage_client, buckets.output, "IMG_0001.HEIC_200x200.jpg")
    assert photo.size == (200, 200)
    assert photo.getexif().get(0x8298) == "(c) 2026 Ada"


def test_a_name_holding_another_uploads_thumbnail_is_never_overwritten(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    taken = storage_client.bucket(buckets.output).blob("cat.jpg_200x200.jpg")
    taken.metadata = {"thumbnail-source-bucket": "elsewhere", "thumbnail-source-object": "other/cat.jpg"}
    taken.upload_from_string(b"theirs", content_type="image/jpeg")
    upload(storage_client, buckets.input, "cat.jpg", JPEG)
    delivery = function.deliver(buckets.input, "cat.jpg")
    assert delivery.status == 200
    assert (delivery.logs[-1]["outcome"], delivery.logs[-1]["reason"]) == ("failed", "output_name_taken")
    assert storage_client.bucket(buckets.output).blob("cat.jpg_200x200.jpg").download_as_bytes() == b"theirs"
