"""RESULT_TOPIC: the function's "ready" and "failed" messages, on the Pub/Sub emulator."""

from __future__ import annotations

import uuid

from google.cloud import storage

from localdev.pubsub import PubSubEmulator
from tests.images import encode, photo_like
from tests.integration.conftest import PUBSUB_PROJECT, Buckets, FunctionFactory
from tests.integration.helpers import received, upload


def test_ready_and_failed_messages(
    make_function: FunctionFactory,
    emulator: PubSubEmulator,
    topic: tuple[str, str],
    storage_client: storage.Client,
    buckets: Buckets,
) -> None:
    topic_path, subscription = topic
    function = make_function(
        RESULT_TOPIC=topic_path, PUBSUB_EMULATOR_HOST=emulator.host, THUMBNAIL_SIZES="200x200,64x64"
    )
    generation = upload(storage_client, buckets.input, "pets/cat.jpg", encode(photo_like(1200, 900), "JPEG"))
    assert function.deliver(buckets.input, "pets/cat.jpg").status == 200
    upload(storage_client, buckets.input, "pets/notes.jpg", b"not a photo")
    assert function.deliver(buckets.input, "pets/notes.jpg").status == 200

    messages = sorted(received(emulator, subscription, 2), key=lambda message: message[0]["event"])
    [(failed_attributes, failed), (ready_attributes, ready)] = messages
    assert ready_attributes == {
        "event": "thumbnails.ready",
        "bucket": buckets.input,
        "object": "pets/cat.jpg",
        "generation": str(generation),
    }
    assert [(t["name"], t["width"], t["height"]) for t in ready["thumbnails"]] == [
        ("pets/cat.jpg_200x200.jpg", 200, 200),
        ("pets/cat.jpg_64x64.jpg", 64, 64),
    ]
    first = ready["thumbnails"][0]
    assert first["uri"] == f"gs://{buckets.output}/pets/cat.jpg_200x200.jpg"
    assert first["url"] == f"https://storage.googleapis.com/{buckets.output}/pets/cat.jpg_200x200.jpg"
    assert first["bytes"] == storage_client.bucket(buckets.output).get_blob(first["name"]).size
    assert failed_attributes["event"] == "thumbnails.failed"
    assert (failed["name"], failed["reason"]) == ("pets/notes.jpg", "not_an_image")


def test_a_message_that_cannot_be_published_means_the_event_is_retried(
    make_function: FunctionFactory, emulator: PubSubEmulator, storage_client: storage.Client, buckets: Buckets
) -> None:
    missing_topic = f"projects/{PUBSUB_PROJECT}/topics/never-created-{uuid.uuid4().hex[:8]}"
    function = make_function(RESULT_TOPIC=missing_topic, PUBSUB_EMULATOR_HOST=emulator.host, DELETE_SOURCE="true")
    upload(storage_client, buckets.input, "dog.jpg", encode(photo_like(800, 600), "JPEG"))
    delivery = function.deliver(buckets.input, "dog.jpg")
    assert delivery.status == 500  # Eventarc redelivers
    assert delivery.logs[-1]["reason"] == "result_not_published"
    # The thumbnail is written already: a redelivery only has the message left to send.
    assert storage_client.bucket(buckets.output).get_blob("dog.jpg_200x200.jpg") is not None
    # DELETE_SOURCE waits for the message: the upload is still there for the redelivery.
    assert storage_client.bucket(buckets.input).get_blob("dog.jpg") is not None
