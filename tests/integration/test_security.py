"""Issue #7's security guarantees, each shown through the function with real parts.

* The function never fetches a URL found in an upload or its event.
* It writes only to its output bucket, under ``OUTPUT_PREFIX`` (thumbnails) or
  ``FAILURE_PREFIX`` (failure records), whatever the upload's name.
* Its logs never hold image bytes or credentials.

(That every local server binds 127.0.0.1 only is tests/e2e/test_loopback_only.py.)
"""

from __future__ import annotations

import base64
import io
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from google.cloud import storage
from PIL import Image

from localdev.events import binary_event, event_attributes
from localdev.gcs import FakeGcsServer
from tests.images import (
    encode,
    exif_with_text,
    jpeg_claiming,
    photo_like,
    png_bomb,
    png_with_text,
    rgb_profile,
    svg_referencing,
    xmp_packet,
)
from tests.integration.conftest import Buckets, FunctionClient, FunctionFactory, Served, event_for
from tests.integration.faults import ConnectionRecorder, FailingEndpoint
from tests.integration.helpers import JPEG, object_names, upload

# -- never fetches URLs ----------------------------------------------------------------


@pytest.fixture
def recorder() -> Iterator[ConnectionRecorder]:
    with ConnectionRecorder() as started:
        yield started


def test_the_recorder_records_a_connection(recorder: ConnectionRecorder) -> None:
    """The control for the tests below: an empty record means no connection, not a deaf recorder."""
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(recorder.url, timeout=5)
    assert len(recorder.connections) == 1


def url_carriers(url: str) -> dict[str, tuple[bytes, str | None]]:
    """Uploads that hold ``url`` in each place an image can hide one: name -> (bytes, the
    reason it fails, or None for a thumbnail)."""
    picture = photo_like(400, 300)
    return {
        "svg-references.svg": (svg_referencing(url), "not_an_image"),
        "exif.jpg": (encode(picture, "JPEG", exif=exif_with_text(url)), None),
        "xmp.jpg": (encode(picture, "JPEG", xmp=xmp_packet(url)), None),
        "comment.jpg": (encode(picture, "JPEG", comment=url.encode()), None),
        "icc-description.jpg": (encode(picture, "JPEG", icc_profile=rgb_profile(url)), None),
        "text-chunks.png": (png_with_text(picture, url), None),
        "icc-description.png": (encode(picture, "PNG", icc_profile=rgb_profile(url)), None),
        "xmp.webp": (encode(picture, "WEBP", xmp=xmp_packet(url)), None),
        "comment.gif": (encode(picture.convert("P"), "GIF", comment=url.encode()), None),
    }


def holds(data: bytes, text: str) -> bool:
    """Whether ``text`` is in the file, or in its ICC profile (which PNG compresses)."""
    if text.encode() in data:
        return True
    with Image.open(io.BytesIO(data)) as image:
        return text.encode() in image.info.get("icc_profile", b"")


def test_the_function_never_fetches_urls_found_in_uploads(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets, recorder: ConnectionRecorder
) -> None:
    carriers = url_carriers(recorder.url)
    for name, (data, reason) in carriers.items():
        assert holds(data, recorder.url), name  # the URL really is in the file
        upload(storage_client, buckets.input, name, data)
        line = function.deliver(buckets.input, name).record
        expected = ("failed", reason) if reason else ("created", None)
        assert (line["outcome"], line.get("reason")) == expected, name
    failed = sorted(f"failed/{name}.json" for name, (_, reason) in carriers.items() if reason)
    assert [name for name in object_names(storage_client, buckets.output) if name.startswith("failed/")] == failed
    assert len(object_names(storage_client, buckets.output)) == len(carriers)
    assert recorder.connections == []


def test_the_function_never_fetches_urls_found_in_the_event(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets, recorder: ConnectionRecorder
) -> None:
    """selfLink and mediaLink name the object, but the download is by bucket, name and
    generation from the configured storage endpoint, never from a link in the event."""
    upload(storage_client, buckets.input, "cat.jpg", JPEG)
    attributes, data = event_for(function.gcs, buckets.input, "cat.jpg")
    links = {"selfLink": recorder.url + "self", "mediaLink": recorder.url + "media", "id": recorder.url}
    data = {**data, **links, "metadata": {"source": recorder.url}}
    delivery = function.deliver_data({**attributes, "source": recorder.url}, data)
    assert (delivery.status, delivery.record["outcome"]) == (200, "created")
    assert recorder.connections == []


# -- never writes outside its output bucket and prefix ---------------------------------

HOSTILE_NAMES = [
    "../escape.jpg",
    "../../../../../../tmp/escape.jpg",
    "thumbs/../../escape.jpg",
    "/../escape.jpg",
    "/..",
    "//etc/passwd",
    "%2F..%2F..%2Fescape.jpg",
    "..%2Fescape.jpg",
    "failed/../escape.jpg",
    "{dir}{name}{stem}{ext}{width}{height}{format}.jpg",
    "{0}{1}{__class__}.jpg",
    "a/{dir}/../{stem}.jpg",
]


def everything(client: storage.Client) -> dict[str, dict[str, int]]:
    """Every object of every bucket on the emulator: bucket -> {name: generation}."""
    return {
        bucket.name: {blob.name: int(blob.generation) for blob in client.list_blobs(bucket.name)}
        for bucket in client.list_buckets()
    }


@pytest.mark.parametrize(
    "output_name",
    ["{dir}{name}_{width}x{height}.{format}", "{dir}small/{stem}.{ext}-{width}w.{format}"],
    ids=["default", "template"],
)
def test_the_function_writes_only_under_its_output_prefix(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets, output_name: str
) -> None:
    function = make_function(OUTPUT_PREFIX="thumbs/", OUTPUT_NAME=output_name, THUMBNAIL_SIZES="200x200,64x64")
    uploads = dict.fromkeys(HOSTILE_NAMES, JPEG)
    uploads |= {f"{name}.txt": b"not an image" for name in HOSTILE_NAMES}  # failure records too
    for name, data in uploads.items():
        upload(storage_client, buckets.input, name, data)
    before = everything(storage_client)
    lines = [function.deliver(buckets.input, name).record for name in uploads]
    after = everything(storage_client)

    assert [(line["outcome"], line.get("reason")) for line in lines] == [
        ("created", None) if data is JPEG else ("failed", "not_an_image") for data in uploads.values()
    ]
    assert after.keys() == before.keys()  # no bucket appeared
    assert {bucket: objects for bucket, objects in after.items() if bucket != buckets.output} == {
        bucket: objects for bucket, objects in before.items() if bucket != buckets.output
    }  # nothing changed anywhere else, the input bucket included
    assert before[buckets.output] == {}
    written = set(after[buckets.output])
    thumbnails = {t["name"] for line in lines for t in line.get("thumbnails", [])}
    records = {f"failed/{name}.json" for name, data in uploads.items() if data is not JPEG}
    assert written == thumbnails | records  # exactly what the log lines name, and the records
    assert len(thumbnails) == 2 * len(HOSTILE_NAMES)
    assert all(name.startswith("thumbs/") for name in thumbnails)


# -- logs never hold image bytes or credentials ----------------------------------------

SECRET_TOKEN = "ya29.a0AfB_byC-SECRET-ACCESS-TOKEN-0123456789abcdefghij"
PRIVATE_KEY = (
    b"-----BEGIN PRIVATE KEY-----\n"
    b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT\n"
    b"-----END PRIVATE KEY-----\n"
)
OIDC_TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkZBS0UifQ.eyJhdWQiOiJ0aHVtYm5haWxlciJ9.U0lHTkFUVVJFLU9GLUEtRkFLRS1UT0tFTg"
FORBIDDEN = [
    SECRET_TOKEN,
    "ya29.",
    "BEGIN PRIVATE KEY",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    OIDC_TOKEN,
    "eyJhbGciOi",
    "Authorization",
    "authorization",
    "Bearer",
    "access_token",
    "private_key",
]


def appearances_of(data: bytes) -> list[str]:
    """Ways a file's bytes would show in a log: base64 (every alignment), hex, Python's repr."""
    found = []
    for offset in range(3):
        encoded = base64.b64encode(data[offset:]).decode()
        found += [encoded[start : start + 40] for start in range(0, max(1, len(encoded) - 40), 64)]
    found.append(data[:24].hex())
    found.append(repr(data[:12])[2:-1])
    return [text for text in found if len(text) >= 20]


def test_logs_never_hold_image_bytes_or_credentials(
    serve: Callable[..., Served],
    gcs: FakeGcsServer,
    storage_client: storage.Client,
    buckets: Buckets,
) -> None:
    secret_exif = exif_with_text(f"token={SECRET_TOKEN}")
    uploads: dict[str, tuple[bytes, str]] = {
        "photo.jpg": (encode(photo_like(800, 600), "JPEG", exif=secret_exif, comment=SECRET_TOKEN.encode()), "created"),
        "key.jpg": (PRIVATE_KEY, "failed"),
        "key.pem": (PRIVATE_KEY * 3, "failed"),
        "truncated.jpg": (JPEG[: len(JPEG) // 2], "failed"),
        "truncated.png": (encode(photo_like(300, 200), "PNG")[:3000], "failed"),
        "bomb.png": (png_bomb(), "failed"),
        "huge-header.jpg": (jpeg_claiming(65000, 65000), "failed"),
        "token.png": (png_with_text(photo_like(300, 200), SECRET_TOKEN), "created"),
        "token.svg": (svg_referencing(f"https://example.com/?access_token={SECRET_TOKEN}&"), "failed"),
        "empty.jpg": (b"", "failed"),
    }
    served = serve(gcs.url)
    for name, (data, _) in uploads.items():
        upload(storage_client, buckets.input, name, data)
    outcomes = {}
    for name in uploads:
        attributes, data = event_for(gcs, buckets.input, name)
        headers, body = binary_event(attributes, data)
        # Eventarc's push carries an OIDC token for the function's invoker check.
        status = served.process.post({**headers, "Authorization": f"Bearer {OIDC_TOKEN}"}, body)
        outcomes[name] = (status, served.line_for(attributes["id"])["outcome"])
    # A malformed event carrying secrets in fields that are not logged (the bucket, name and
    # generation are, shortened: they say which event it was), and a storage error (its
    # message quotes the server's answer).
    malformed = event_attributes({"bucket": buckets.input, "name": "key.jpg"})
    secrets = {"metadata": {"key": PRIVATE_KEY.decode()}, "padding": SECRET_TOKEN, "generation": "one"}
    served.process.post(*binary_event(malformed, {"bucket": buckets.input, "name": "key.jpg", **secrets}))
    assert served.line_for(malformed["id"])["reason"] == "malformed_event"
    with FailingEndpoint(403) as denied:
        failing = serve(denied.url, STORAGE_RETRY_SECONDS="1")
        attributes, data = event_for(gcs, buckets.input, "photo.jpg")
        headers, body = binary_event(attributes, data)
        assert failing.process.post({**headers, "Authorization": f"Bearer {OIDC_TOKEN}"}, body) == 500
        assert failing.line_for(attributes["id"])["reason"] == "storage_misconfigured"

    assert outcomes == {name: (200, outcome) for name, (_, outcome) in uploads.items()}
    output = served.process.output() + failing.process.output()
    lines = output.splitlines()
    assert len([line for line in lines if '"outcome"' in line]) == len(uploads) + 2  # every event was logged
    assert max(len(line.encode()) for line in lines) <= 8192
    for text in FORBIDDEN:
        assert text not in output, text
    for data, _ in uploads.values():
        for shown in appearances_of(data):
            assert shown not in output, shown
    assert not re.search(r"[A-Za-z0-9+/]{200,}", output)  # no long base64 run of anything
    thumbnail = storage_client.bucket(buckets.output).blob("photo.jpg_200x200.jpg").download_as_bytes()
    assert SECRET_TOKEN.encode() not in thumbnail  # nor does the token travel in the thumbnail
