"""Cloud Vision labels and SafeSearch moderation: the function on the storage emulator,
Vision answered by the local stand-in (localdev/vision.py), which counts every call."""

from __future__ import annotations

import io
import json
import statistics
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import storage
from PIL import Image, ImageDraw, ImageFilter

from localdev.gcs import FakeGcsServer
from localdev.pubsub import PubSubEmulator
from localdev.vision import VisionStandIn, safe_search
from tests.images import encode, rgb_pixels
from tests.integration.conftest import Buckets, FunctionClient, FunctionFactory
from tests.integration.helpers import object_names, received, upload


@pytest.fixture
def vision(gcs: FakeGcsServer) -> Iterator[VisionStandIn]:
    stand_in = VisionStandIn(storage_url=gcs.url).start()
    yield stand_in
    stand_in.stop()


def skin_toned() -> bytes:
    """What the stand-in's skin rule rates VERY_LIKELY adult (a close-up of skin)."""
    image = Image.new("RGB", (1200, 900), (224, 172, 140))
    ImageDraw.Draw(image).ellipse((300, 200, 900, 700), fill=(200, 150, 120))
    return encode(image, "JPEG", quality=90)


def landscape() -> bytes:
    """Sky over grass, with detail: nothing the stand-in flags."""
    image = Image.new("RGB", (1200, 900), (70, 130, 220))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 500, 1199, 899), fill=(40, 150, 60))
    for x in range(0, 1200, 40):
        draw.line((x, 500, x + 20, 899), fill=(20, 90, 30), width=6)
    return encode(image, "JPEG", quality=90)


def record(client: storage.Client, bucket: str, name: str) -> dict[str, Any]:
    blob = client.bucket(bucket).get_blob(name)
    assert blob is not None, f"no {name} in {object_names(client, bucket)}"
    parsed: dict[str, Any] = json.loads(blob.download_as_bytes())
    return parsed


def vision_function(make_function: FunctionFactory, vision: VisionStandIn, **settings: str) -> FunctionClient:
    return make_function(
        VISION_FEATURES="labels,safe-search", VISION_API_ENDPOINT=vision.url, VISION_RETRY_SECONDS="0", **settings
    )


def test_labels_go_to_a_record_from_one_request_with_a_small_copy(
    make_function: FunctionFactory, vision: VisionStandIn, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = vision_function(make_function, vision, THUMBNAIL_SIZES="200x200,64x64")
    generation = upload(storage_client, buckets.input, "trips/field.jpg", landscape())
    delivery = function.deliver(buckets.input, "trips/field.jpg")
    assert delivery.status == 200
    line = delivery.record
    assert line["vision"] == "called"
    assert "Blue" in line["labels"]
    assert line["flagged"] is False

    # One call, one image, both features named, the 640-pixel copy as content.
    [[sent]] = vision.calls
    assert sent.features == ("LABEL_DETECTION", "SAFE_SEARCH_DETECTION")
    assert sent.max_results == 10
    assert (sent.source, sent.format, sent.size) == ("content", "JPEG", (640, 480))
    assert sent.bytes < len(landscape()) / 2

    labels = record(storage_client, buckets.output, "labels/trips/field.jpg.json")
    assert labels["generation"] == str(generation)
    assert (labels["bucket"], labels["name"]) == (buckets.input, "trips/field.jpg")
    assert labels["labels"][0] == {"description": "Blue", "score": labels["labels"][0]["score"], "mid": "/local/blue"}
    assert all(label["score"] >= 0.5 for label in labels["labels"])
    assert labels["safe_search"]["adult"] == "VERY_UNLIKELY"
    assert labels["flagged"] is False
    assert labels["annotated_at"].startswith("20")
    assert labels["latency_ms"] > 0
    blob = storage_client.bucket(buckets.output).get_blob("labels/trips/field.jpg.json")
    assert blob.metadata["thumbnail-source-generation"] == str(generation)

    # The labels record is the function's own output: its event is ignored.
    assert make_function().deliver(buckets.output, "labels/trips/field.jpg.json").record["outcome"] == "skipped"


def test_a_redelivered_event_does_not_ask_vision_again(
    make_function: FunctionFactory, vision: VisionStandIn, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = vision_function(make_function, vision)
    upload(storage_client, buckets.input, "cat.jpg", landscape())
    assert function.deliver(buckets.input, "cat.jpg").record["vision"] == "called"
    again = function.deliver(buckets.input, "cat.jpg").record
    assert (again["outcome"], again["vision"]) == ("duplicate", "recorded")
    assert again["labels"]  # from the record
    assert len(vision.calls) == 1

    # A new generation is a new image: asked again, and its record replaces the old one.
    generation = upload(storage_client, buckets.input, "cat.jpg", skin_toned())
    assert function.deliver(buckets.input, "cat.jpg").record["vision"] == "called"
    assert len(vision.calls) == 2
    assert record(storage_client, buckets.output, "labels/cat.jpg.json")["generation"] == str(generation)


@pytest.mark.parametrize("status", [429, 503, 403])
def test_a_transient_vision_error_retries_without_writing_thumbnails_twice(
    status: int,
    make_function: FunctionFactory,
    vision: VisionStandIn,
    storage_client: storage.Client,
    buckets: Buckets,
) -> None:
    function = vision_function(make_function, vision)
    upload(storage_client, buckets.input, "dog.jpg", landscape())
    vision.fail_next(status)
    first = function.deliver(buckets.input, "dog.jpg")
    assert first.status == 500  # Eventarc redelivers
    assert first.logs[-1]["reason"] == "vision_unavailable"
    # Thumbnails never wait for Vision: written before it was asked.
    assert object_names(storage_client, buckets.output) == ["dog.jpg_200x200.jpg"]
    written = storage_client.bucket(buckets.output).get_blob("dog.jpg_200x200.jpg").generation

    second = function.deliver(buckets.input, "dog.jpg")
    assert second.status == 200
    assert (second.record["outcome"], second.record["vision"]) == ("duplicate", "called")
    assert storage_client.bucket(buckets.output).get_blob("dog.jpg_200x200.jpg").generation == written
    assert object_names(storage_client, buckets.output) == ["dog.jpg_200x200.jpg", "labels/dog.jpg.json"]
    assert (vision.refused, len(vision.calls)) == (1, 1)


def test_a_refused_image_is_recorded_and_acknowledged(
    make_function: FunctionFactory, vision: VisionStandIn, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = vision_function(make_function, vision)
    upload(storage_client, buckets.input, "odd.jpg", landscape())
    vision.fail_next(400)
    delivery = function.deliver(buckets.input, "odd.jpg")
    assert delivery.status == 200
    assert delivery.record["outcome"] == "created"
    assert "HTTP 400" in delivery.record["vision_error"]
    labels = record(storage_client, buckets.output, "labels/odd.jpg.json")
    assert "HTTP 400" in labels["error"]
    assert "labels" not in labels
    # On record: a redelivery does not ask again.
    assert function.deliver(buckets.input, "odd.jpg").record["vision"] == "recorded"
    assert vision.refused == 1
    assert vision.calls == []


def test_vision_off_asks_nothing_and_writes_no_record(
    make_function: FunctionFactory, vision: VisionStandIn, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = make_function(VISION_API_ENDPOINT=vision.url)
    upload(storage_client, buckets.input, "plain.jpg", landscape())
    delivery = function.deliver(buckets.input, "plain.jpg")
    assert delivery.status == 200
    assert "vision" not in delivery.record
    assert object_names(storage_client, buckets.output) == ["plain.jpg_200x200.jpg"]
    assert vision.calls == []


def test_every_thumbnail_carries_a_thumbhash_and_its_colour(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    upload(storage_client, buckets.input, "sky.jpg", encode(Image.new("RGB", (800, 600), (70, 130, 220)), "JPEG"))
    assert function.deliver(buckets.input, "sky.jpg").status == 200
    metadata = storage_client.bucket(buckets.output).get_blob("sky.jpg_200x200.jpg").metadata
    colour = metadata["thumbnail-color"]
    assert max(abs(int(colour[i : i + 2], 16) - v) for i, v in ((1, 70), (3, 130), (5, 220))) <= 3, colour
    assert len(metadata["thumbnail-thumbhash"]) >= 24  # base64 of 18 bytes or more


def edges(data: bytes) -> float:
    image = Image.open(io.BytesIO(data)).convert("L")
    return float(statistics.mean(image.filter(ImageFilter.FIND_EDGES).crop((2, 2, 198, 198)).tobytes()))


def test_moderation_record_only_records_the_verdict(
    make_function: FunctionFactory, vision: VisionStandIn, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = vision_function(make_function, vision, MODERATION="record")
    upload(storage_client, buckets.input, "close-up.jpg", skin_toned())
    line = function.deliver(buckets.input, "close-up.jpg").record
    assert (line["outcome"], line["flagged"]) == ("created", True)
    labels = record(storage_client, buckets.output, "labels/close-up.jpg.json")
    assert labels["flagged"] is True
    assert labels["moderation_likelihood"] == "LIKELY"
    assert labels["safe_search"]["adult"] == "VERY_LIKELY"
    blob = storage_client.bucket(buckets.output).get_blob("close-up.jpg_200x200.jpg")
    assert "thumbnail-moderation" not in blob.metadata


def test_moderation_blur_blurs_only_what_is_flagged(
    make_function: FunctionFactory, vision: VisionStandIn, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = vision_function(make_function, vision, MODERATION="blur")
    upload(storage_client, buckets.input, "flagged.jpg", skin_toned())
    upload(storage_client, buckets.input, "fine.jpg", landscape())
    assert function.deliver(buckets.input, "flagged.jpg").record["flagged"] is True
    assert function.deliver(buckets.input, "fine.jpg").record["flagged"] is False

    output = storage_client.bucket(buckets.output)
    flagged, fine = output.get_blob("flagged.jpg_200x200.jpg"), output.get_blob("fine.jpg_200x200.jpg")
    assert flagged.metadata["thumbnail-moderation"] == "blurred"
    assert "thumbnail-moderation" not in fine.metadata
    assert edges(flagged.download_as_bytes()) < 1.5
    assert edges(fine.download_as_bytes()) > 5
    assert len(vision.calls) == 2


def test_moderation_blur_waits_for_vision(
    make_function: FunctionFactory, vision: VisionStandIn, storage_client: storage.Client, buckets: Buckets
) -> None:
    function = vision_function(make_function, vision, MODERATION="blur")
    upload(storage_client, buckets.input, "wait.jpg", skin_toned())
    vision.fail_next(503)
    assert function.deliver(buckets.input, "wait.jpg").status == 500
    assert object_names(storage_client, buckets.output) == []  # nothing unmoderated was written
    assert function.deliver(buckets.input, "wait.jpg").record["flagged"] is True
    assert (
        storage_client.bucket(buckets.output).get_blob("wait.jpg_200x200.jpg").metadata["thumbnail-moderation"]
        == "blurred"
    )


def test_moderation_withhold_writes_no_thumbnail_and_says_why(
    make_function: FunctionFactory,
    vision: VisionStandIn,
    storage_client: storage.Client,
    buckets: Buckets,
) -> None:
    function = vision_function(make_function, vision, MODERATION="withhold", MODERATION_LIKELIHOOD="VERY_LIKELY")
    upload(storage_client, buckets.input, "held.jpg", skin_toned())
    line = function.deliver(buckets.input, "held.jpg").record
    assert (line["outcome"], line["reason"]) == ("failed", "moderated")
    assert object_names(storage_client, buckets.output) == ["failed/held.jpg.json", "labels/held.jpg.json"]
    assert record(storage_client, buckets.output, "failed/held.jpg.json")["reason"] == "moderated"
    assert record(storage_client, buckets.output, "labels/held.jpg.json")["moderation_likelihood"] == "VERY_LIKELY"
    # A redelivery decides from the record: no second call, still nothing written.
    assert function.deliver(buckets.input, "held.jpg").record["reason"] == "moderated"
    assert len(vision.calls) == 1
    assert object_names(storage_client, buckets.output) == ["failed/held.jpg.json", "labels/held.jpg.json"]


def test_the_ready_message_carries_labels_verdict_and_placeholders(
    make_function: FunctionFactory,
    vision: VisionStandIn,
    emulator: PubSubEmulator,
    topic: tuple[str, str],
    storage_client: storage.Client,
    buckets: Buckets,
) -> None:
    topic_path, subscription = topic
    function = vision_function(make_function, vision, RESULT_TOPIC=topic_path, PUBSUB_EMULATOR_HOST=emulator.host)
    upload(storage_client, buckets.input, "park.jpg", landscape())
    assert function.deliver(buckets.input, "park.jpg").status == 200
    [(_, ready)] = received(emulator, subscription, 1)
    assert ready["labels"] == record(storage_client, buckets.output, "labels/park.jpg.json")["labels"]
    assert ready["safe_search"]["flagged"] is False
    assert ready["safe_search"]["adult"] == "VERY_UNLIKELY"
    [thumbnail] = ready["thumbnails"]
    metadata = storage_client.bucket(buckets.output).get_blob("park.jpg_200x200.jpg").metadata
    assert (thumbnail["thumbhash"], thumbnail["color"]) == (
        metadata["thumbnail-thumbhash"],
        metadata["thumbnail-color"],
    )


def test_an_attention_crop_through_the_function(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    image = Image.new("RGB", (1200, 400), (120, 120, 120))
    ImageDraw.Draw(image).ellipse((1000, 100, 1180, 300), fill=(230, 40, 40))
    upload(storage_client, buckets.input, "edge.png", encode(image, "PNG"), "image/png")
    function = make_function(THUMBNAIL_SIZES="200x200:mode=attention,64x64")
    assert function.deliver(buckets.input, "edge.png").status == 200
    output = storage_client.bucket(buckets.output)

    def reds(name: str) -> int:
        thumbnail = Image.open(io.BytesIO(output.get_blob(name).download_as_bytes()))
        return sum(1 for r, g, b in rgb_pixels(thumbnail) if r > 180 and g < 100)

    assert reds("edge.png_200x200.jpg") > 5000  # the subject, kept by the attention crop
    assert reds("edge.png_64x64.jpg") == 0  # cover's centre crop misses it


def test_the_fixtures_are_judged_as_these_tests_expect() -> None:
    """The moderation tests rely on the stand-in's rules: checked where they are decided."""
    assert safe_search(Image.open(io.BytesIO(landscape())).convert("RGBA"))["adult"] == "VERY_UNLIKELY"
    assert safe_search(Image.open(io.BytesIO(skin_toned())).convert("RGBA"))["adult"] == "VERY_LIKELY"
