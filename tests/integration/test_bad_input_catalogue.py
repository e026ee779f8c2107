"""Issue #7's bad input catalogue: every entry is one test, through the function.

Each test sends what Eventarc would deliver (or what it never would) to ``main.process_image``
under functions-framework, against fake-gcs-server, and checks the whole deliberate
answer:

* the HTTP status: 200 acknowledges, 500 has Eventarc redeliver;
* the event's one JSON log line: severity, outcome, reason, and the bucket, object,
  generation and event id it was about;
* the failure record ``failed/NAME.json``, or that there is none;
* that nothing else was written: the output bucket holds exactly what is expected (no
  half-written output), and the input bucket only the uploads.

Valid but odd inputs are checked for their thumbnail: its name, size, format and the
metadata that links it back to the source.

Most tests call functions-framework's own app (``create_app``) through its WSGI
interface; the huge payloads and the concurrent generations go to the function served
by functions-framework's gunicorn over a real socket, where a request size limit or
several threads matter. Storage is fake-gcs-server with its memory backend, which keeps
object names exactly as given, as Cloud Storage does.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from google.cloud import storage
from PIL import Image

from localdev.events import binary_event, event_attributes
from localdev.faults import RequestKind, request_kind
from localdev.gcs import FakeGcsServer
from tests.images import (
    avif_with_its_handler_last,
    cmyk_alpha_tiff,
    encode,
    jpeg_claiming,
    mean_colour,
    photo_like,
    png_16_bit_with_colour_key,
    png_bomb,
    svg_referencing,
    tiff_with_a_dimensionless_page,
    tiff_with_a_tag_past_the_end,
    tiff_with_damaged_deflate_data,
    twelve_bit_jpeg,
    with_corrupt_exif,
)
from tests.integration.conftest import (
    Buckets,
    Delivery,
    FunctionClient,
    FunctionFactory,
    Served,
    event_for,
)
from tests.integration.faults import SeenRequest, StorageGate
from tests.integration.helpers import JPEG, assert_placeholders, object_names, thumbnail, upload
from thumbnailer.logs import loggable

PNG = encode(photo_like(400, 300), "PNG")
SOURCE_KEYS = ("thumbnail-source-bucket", "thumbnail-source-object", "thumbnail-source-generation")


# -- what every test checks ------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One event as sent, and the function's answer."""

    attributes: dict[str, str]
    data: Any
    delivery: Delivery


def send(function: FunctionClient, bucket: str, name: str, **attributes: str) -> Sent:
    """Deliver the event Eventarc would deliver for the object's live generation."""
    sent_attributes, data = event_for(function.gcs, bucket, name, **attributes)
    return Sent(sent_attributes, data, function.deliver_data(sent_attributes, data))


def assert_answer(sent: Sent, status: int, severity: str, outcome: str, reason: str | None) -> dict[str, Any]:
    """The HTTP status and the one log line, which names the event it was about."""
    assert sent.delivery.status == status
    line = sent.delivery.record
    assert (line["severity"], line["outcome"], line.get("reason")) == (severity, outcome, reason), line
    fields = sent.data if isinstance(sent.data, dict) else {}
    assert {key: line[key] for key in ("event_id", "bucket", "object", "generation")} == {
        "event_id": sent.attributes["id"],
        "bucket": loggable(fields.get("bucket")),
        "object": loggable(fields.get("name")),
        "generation": loggable(fields.get("generation")),
    }
    return line


def assert_failure_record(client: storage.Client, buckets: Buckets, sent: Sent, reason: str) -> None:
    name, generation = sent.data["name"], sent.data["generation"]
    blob = client.bucket(buckets.output).get_blob(f"failed/{name}.json")
    assert blob is not None, f"no failure record for {name!r}"
    record = json.loads(blob.download_as_bytes())
    assert {key: record[key] for key in ("bucket", "name", "generation", "reason", "event_id")} == {
        "bucket": buckets.input,
        "name": name,
        "generation": generation,
        "reason": reason,
        "event_id": sent.attributes["id"],
    }
    assert record["detail"]
    assert record["time"]
    assert blob.content_type == "application/json"
    assert {key: blob.metadata[key] for key in SOURCE_KEYS} == dict(
        zip(SOURCE_KEYS, (buckets.input, name, generation), strict=True)
    )


def assert_thumbnail(
    client: storage.Client, buckets: Buckets, name: str, source: str, generation: str, size: tuple[int, int]
) -> Image.Image:
    """The thumbnail exists, has this size, and its metadata links it to exactly that upload."""
    blob, image = thumbnail(client, buckets.output, name)
    assert image.size == size
    assert blob.content_type == Image.MIME[str(image.format)]
    metadata = dict(blob.metadata)
    assert_placeholders(metadata.pop("thumbnail-thumbhash"), metadata.pop("thumbnail-color"))
    assert re.fullmatch(r"[0-9a-f]{16}", metadata.pop("thumbnail-settings"))
    assert metadata == {
        "thumbnail-source-bucket": buckets.input,
        "thumbnail-source-object": source,
        "thumbnail-source-generation": generation,
        "thumbnail-width": str(size[0]),
        "thumbnail-height": str(size[1]),
    }
    return image


def refused_upload(
    function: FunctionClient,
    client: storage.Client,
    buckets: Buckets,
    name: str,
    data: bytes,
    reason: str,
    content_type: str = "image/jpeg",
) -> dict[str, Any]:
    """An upload that cannot be thumbnailed: acknowledged, a WARNING, a record, nothing else."""
    upload(client, buckets.input, name, data, content_type)
    sent = send(function, buckets.input, name)
    line = assert_answer(sent, 200, "WARNING", "failed", reason)
    assert_failure_record(client, buckets, sent, reason)
    assert object_names(client, buckets.output) == [f"failed/{name}.json"]
    assert object_names(client, buckets.input) == [name]
    return line


# -- contents --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "reason", "content_type"),
    [
        ("empty.jpg", b"", "empty_object", "image/jpeg"),
        ("truncated.jpg", JPEG[: len(JPEG) // 3], "corrupt_image", "image/jpeg"),
        ("truncated.png", PNG[:5000], "corrupt_image", "image/png"),
        ("notes.jpg", b"this is a text file, not a JPEG\n" * 20, "not_an_image", "image/jpeg"),
        (
            "vector.svg",
            svg_referencing("http://169.254.169.254/computeMetadata/v1/"),
            "not_an_image",
            "image/svg+xml",
        ),
    ],
    ids=["zero bytes", "truncated jpeg", "truncated png", "text file named jpg", "svg with external references"],
)
def test_unreadable_content(
    function: FunctionClient,
    storage_client: storage.Client,
    buckets: Buckets,
    name: str,
    data: bytes,
    reason: str,
    content_type: str,
) -> None:
    refused_upload(function, storage_client, buckets, name, data, reason, content_type)


def test_png_bomb(function: FunctionClient, storage_client: storage.Client, buckets: Buckets) -> None:
    bomb = png_bomb(60000, 60000)  # 3.6 gigapixels in a few kilobytes
    assert len(bomb) < 10_000
    line = refused_upload(function, storage_client, buckets, "bomb.png", bomb, "too_many_pixels", "image/png")
    assert line["duration_ms"] < 5000  # refused from the header, not after decoding


def test_jpeg_header_claiming_65000x65000(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    line = refused_upload(function, storage_client, buckets, "huge.jpg", jpeg_claiming(65000, 65000), "too_many_pixels")
    assert line["duration_ms"] < 5000


def test_wrong_extension(function: FunctionClient, storage_client: storage.Client, buckets: Buckets) -> None:
    """Judged by content: a JPEG named .png and a transparent PNG named .jpg are thumbnailed
    as what they are, and each thumbnail keeps the whole source name."""
    transparent = Image.new("RGBA", (300, 300), (255, 0, 0, 0))
    transparent.paste((0, 0, 255, 255), (100, 100, 200, 200))
    uploads = {
        "really-a-jpeg.png": (JPEG, "application/octet-stream", "JPEG", "really-a-jpeg.png_200x200.jpg"),
        "really-a-png.jpg": (encode(transparent, "PNG"), "image/jpeg", "PNG", "really-a-png.jpg_200x200.webp"),
    }
    for name, (data, content_type, source_format, thumbnail_name) in uploads.items():
        generation = upload(storage_client, buckets.input, name, data, content_type)
        sent = send(function, buckets.input, name)
        line = assert_answer(sent, 200, "INFO", "created", None)
        assert line["source_format"] == source_format
        assert_thumbnail(storage_client, buckets, thumbnail_name, name, str(generation), (200, 200))
    assert object_names(storage_client, buckets.output) == sorted(entry[3] for entry in uploads.values())


def test_one_by_one_image(function: FunctionClient, storage_client: storage.Client, buckets: Buckets) -> None:
    generation = upload(storage_client, buckets.input, "dot.png", encode(Image.new("RGB", (1, 1), "red"), "PNG"))
    assert_answer(send(function, buckets.input, "dot.png"), 200, "INFO", "created", None)
    image = assert_thumbnail(storage_client, buckets, "dot.png_200x200.jpg", "dot.png", str(generation), (1, 1))
    assert mean_colour(image, (0, 0, 1, 1))[0] > 200  # never enlarged, still red
    assert object_names(storage_client, buckets.output) == ["dot.png_200x200.jpg"]


def test_one_by_ten_thousand_image(
    make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets
) -> None:
    """A one-pixel-wide strip: cover crops it to a 1x1 square, contain keeps a 1x300 strip."""
    function = make_function(THUMBNAIL_SIZES="200x200,300x300:mode=contain")
    generation = str(upload(storage_client, buckets.input, "strip.png", encode(photo_like(1, 10000), "PNG")))
    line = assert_answer(send(function, buckets.input, "strip.png"), 200, "INFO", "created", None)
    assert [(t["width"], t["height"]) for t in line["thumbnails"]] == [(1, 1), (1, 300)]
    assert_thumbnail(storage_client, buckets, "strip.png_200x200.jpg", "strip.png", generation, (1, 1))
    assert_thumbnail(storage_client, buckets, "strip.png_300x300.jpg", "strip.png", generation, (1, 300))
    assert object_names(storage_client, buckets.output) == ["strip.png_200x200.jpg", "strip.png_300x300.jpg"]


def test_corrupt_exif(make_function: FunctionFactory, storage_client: storage.Client, buckets: Buckets) -> None:
    """The EXIF cannot be read, so its orientation is not applied: the image is shown as
    stored (200 wide, 300 high), and the thumbnail is made all the same."""
    function = make_function(THUMBNAIL_MODE="contain")
    generation = upload(storage_client, buckets.input, "garbled-exif.jpg", with_corrupt_exif(photo_like(300, 200)))
    assert_answer(send(function, buckets.input, "garbled-exif.jpg"), 200, "INFO", "created", None)
    image = assert_thumbnail(
        storage_client, buckets, "garbled-exif.jpg_200x200.jpg", "garbled-exif.jpg", str(generation), (133, 200)
    )
    assert not image.getexif()
    assert object_names(storage_client, buckets.output) == ["garbled-exif.jpg_200x200.jpg"]


# -- hostile and unusual files (issue #12) ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "reason", "detail"),
    [
        ("crafted.tif", tiff_with_a_dimensionless_page, "corrupt_image", "TypeError: Missing dimensions"),
        ("scan.jpg", twelve_bit_jpeg, "unsupported_variant", "a 12-bit JPEG"),
        ("damaged.tif", tiff_with_damaged_deflate_data, "corrupt_image", "decoder error"),
    ],
    ids=["tiff page without dimensions", "12-bit jpeg", "tiff with damaged deflate data"],
)
def test_hostile_files_are_refused_with_their_reason(
    function: FunctionClient,
    storage_client: storage.Client,
    buckets: Buckets,
    name: str,
    data: Callable[[], bytes],
    reason: str,
    detail: str,
) -> None:
    """Never a retry: a crafted or damaged file is the file's fault, and says which."""
    line = refused_upload(function, storage_client, buckets, name, data(), reason, "application/octet-stream")
    assert detail in line["message"]


@pytest.mark.parametrize(
    ("name", "data", "thumbnail_name", "size"),
    [
        ("strict.avif", lambda: avif_with_its_handler_last(photo_like(480, 360)), "strict.avif_200x200.jpg", 200),
        ("print.tif", cmyk_alpha_tiff, "print.tif_200x200.webp", 80),  # 120x80: never enlarged
        ("grey16-key.png", lambda: png_16_bit_with_colour_key("L"), "grey16-key.png_200x200.webp", 80),
        ("rgb16-key.png", lambda: png_16_bit_with_colour_key("RGB"), "rgb16-key.png_200x200.webp", 80),
    ],
    ids=["avif pillow refuses", "cmyk with alpha", "16-bit grey colour key", "16-bit rgb colour key"],
)
def test_unusual_valid_files_are_thumbnailed(
    function: FunctionClient,
    storage_client: storage.Client,
    buckets: Buckets,
    name: str,
    data: Callable[[], bytes],
    thumbnail_name: str,
    size: int,
) -> None:
    generation = upload(storage_client, buckets.input, name, data(), "application/octet-stream")
    assert_answer(send(function, buckets.input, name), 200, "INFO", "created", None)
    blob, image = thumbnail(storage_client, buckets.output, thumbnail_name)
    assert image.size == (size, size)
    assert blob.metadata["thumbnail-source-generation"] == str(generation)
    assert object_names(storage_client, buckets.output) == [thumbnail_name]


def test_what_the_decoders_said_is_on_the_events_line(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    upload(storage_client, buckets.input, "odd.tif", tiff_with_a_tag_past_the_end(), "image/tiff")
    sent = send(function, buckets.input, "odd.tif")
    line = assert_answer(sent, 200, "INFO", "created", None)
    assert line["warnings"]
    assert len(sent.delivery.logs) == 1  # and nowhere else


# -- object names ----------------------------------------------------------------------


def thumbnails_for_names(function: FunctionClient, client: storage.Client, buckets: Buckets, names: list[str]) -> None:
    """Each name is a name, not a path: its thumbnail is the same name plus the suffix."""
    for name in names:
        generation = upload(client, buckets.input, name, JPEG)
        assert_answer(send(function, buckets.input, name), 200, "INFO", "created", None)
        assert_thumbnail(client, buckets, f"{name}_200x200.jpg", name, str(generation), (200, 200))
    assert object_names(client, buckets.output) == sorted(f"{name}_200x200.jpg" for name in names)
    assert object_names(client, buckets.input) == sorted(names)


def test_names_with_dot_dot_segments(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    names = ["../up.jpg", "a/../b.jpg", "a/../../../etc/passwd.jpg", "a/./c.jpg", "a//d.jpg", "/lead.jpg"]
    thumbnails_for_names(function, storage_client, buckets, names)


def test_names_with_a_literal_percent_2f(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    names = ["a%2Fb.jpg", "a%2F..%2F..%2Fc.jpg", "%2e%2e%2Fd.jpg", "odd #?&=+%20 name.jpg"]
    thumbnails_for_names(function, storage_client, buckets, names)


@pytest.mark.parametrize("name", ["line\nbreak.jpg", "carriage\rreturn.jpg"], ids=["LF", "CR"])
def test_name_with_a_newline(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets, name: str
) -> None:
    """Cloud Storage refuses such names, so Eventarc cannot send one: malformed, and the log
    line stays one line (the emulator accepts the upload, so the event is a real one)."""
    upload(storage_client, buckets.input, name, JPEG)
    sent = send(function, buckets.input, name)
    assert_answer(sent, 200, "WARNING", "failed", "malformed_event")
    assert len(sent.delivery.logs) == 1  # each line parsed as one JSON object: the name did not split it
    assert object_names(storage_client, buckets.output) == []


def test_name_of_1024_bytes(function: FunctionClient, storage_client: storage.Client, buckets: Buckets) -> None:
    """The longest name Cloud Storage allows: its thumbnail's name would be 1036 bytes, and so
    would its failure record's, so the log line is the only record."""
    name = "é" * 510 + ".jpg"  # 514 characters, 1024 bytes
    assert len(name.encode()) == 1024
    upload(storage_client, buckets.input, name, JPEG)
    assert_answer(send(function, buckets.input, name), 200, "WARNING", "failed", "output_name_too_long")
    assert object_names(storage_client, buckets.output) == []


def test_name_whose_thumbnail_name_is_exactly_1024_bytes(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    name = "é" * 504 + ".jpg"  # 1012 bytes; with "_200x200.jpg", 1024: counted in bytes, not characters
    thumbnails_for_names(function, storage_client, buckets, [name])
    assert len(f"{name}_200x200.jpg".encode()) == 1024


def test_unicode_nfc_and_nfd_names_are_two_uploads(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    """The same visible name in two normal forms is two objects: two thumbnails, neither
    replacing the other, each from its own upload."""
    nfc, nfd = unicodedata.normalize("NFC", "café.jpg"), unicodedata.normalize("NFD", "café.jpg")
    assert nfc != nfd
    colours = {nfc: (220, 30, 30), nfd: (30, 30, 220)}
    for name, colour in colours.items():
        generation = upload(storage_client, buckets.input, name, encode(Image.new("RGB", (400, 400), colour), "JPEG"))
        assert_answer(send(function, buckets.input, name), 200, "INFO", "created", None)
        assert_thumbnail(storage_client, buckets, f"{name}_200x200.jpg", name, str(generation), (200, 200))
    for name, colour in colours.items():
        _, image = thumbnail(storage_client, buckets.output, f"{name}_200x200.jpg")
        assert all(abs(a - b) < 12 for a, b in zip(mean_colour(image, (50, 50, 150, 150)), colour, strict=True))
    assert object_names(storage_client, buckets.output) == sorted(f"{name}_200x200.jpg" for name in colours)


# -- events ----------------------------------------------------------------------------


def live_data(client: storage.Client, gcs: FakeGcsServer, buckets: Buckets) -> dict[str, Any]:
    upload(client, buckets.input, "cat.jpg", JPEG)
    data: dict[str, Any] = event_for(gcs, buckets.input, "cat.jpg")[1]
    return data


def refused_event(
    function: FunctionClient, client: storage.Client, buckets: Buckets, data: Any, body: bytes | None = None
) -> Sent:
    """Send ``data`` as a finalized event's body (JSON with ASCII escapes, so even a lone
    surrogate can travel), or ``body`` as it is: acknowledged as malformed, nothing written."""
    attributes = event_attributes({"bucket": buckets.input, "name": "cat.jpg"})
    headers, _ = binary_event(attributes, {})
    sent = Sent(attributes, data, function.post(headers, json.dumps(data).encode() if body is None else body))
    assert_answer(sent, 200, "WARNING", "failed", "malformed_event")
    assert object_names(client, buckets.output) == []
    return sent


@pytest.mark.parametrize("missing", ["bucket", "name", "generation", "everything"])
def test_event_with_missing_fields(
    function: FunctionClient, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets, missing: str
) -> None:
    data = live_data(storage_client, gcs, buckets)
    kept = {} if missing == "everything" else {key: value for key, value in data.items() if key != missing}
    refused_event(function, storage_client, buckets, kept)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("generation", "one"),
        ("generation", 1.5),
        ("generation", True),
        ("generation", -1),
        ("generation", "1" * 5000),  # Python refuses to read over 4300 digits as a number
        ("generation", str(2**63)),  # past int64
        ("size", "big"),
        ("name", 12),
        ("name", ""),
        ("name", "\ud800.jpg"),  # a lone surrogate: not UTF-8, so no Cloud Storage name
        ("bucket", None),
        ("bucket", {"name": "in"}),
        ("bucket", "Not A Bucket"),
        ("metadata", ["x"]),
    ],
    ids=lambda value: repr(value)[:20],
)
def test_event_with_fields_of_wrong_types(
    function: FunctionClient,
    gcs: FakeGcsServer,
    storage_client: storage.Client,
    buckets: Buckets,
    field: str,
    value: Any,
) -> None:
    refused_event(function, storage_client, buckets, {**live_data(storage_client, gcs, buckets), field: value})


@pytest.mark.parametrize("data", [[1, 2, 3], "just a string", None], ids=["list", "string", "null"])
def test_event_data_that_is_not_an_object(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets, data: Any
) -> None:
    refused_event(function, storage_client, buckets, data)


def test_event_body_that_is_not_json(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets
) -> None:
    refused_event(function, storage_client, buckets, None, body=b"\x00not json at all")


def test_event_with_a_json_number_too_long_for_python(
    function: FunctionClient, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    """Not this function's answer: the CloudEvents SDK inside functions-framework cannot
    read a 5000-digit number and functions-framework answers 500 before the function
    runs. Eventarc never sends one (int64 fields travel as strings, checked above)."""
    data = live_data(storage_client, gcs, buckets)
    attributes = event_attributes(data)
    headers, body = binary_event(attributes, data)
    body = body.replace(json.dumps(data["generation"]).encode(), b"1" * 5000)
    delivery = function.post(headers, body)
    assert delivery.status == 500
    assert delivery.logs == []
    assert object_names(storage_client, buckets.output) == []


@pytest.mark.parametrize(
    "event_type",
    [
        "google.cloud.storage.object.v1.deleted",
        "google.cloud.storage.object.v1.archived",
        "google.cloud.storage.object.v1.metadataUpdated",
        "com.example.unknown",
    ],
)
def test_event_of_an_unknown_type(
    function: FunctionClient, storage_client: storage.Client, buckets: Buckets, event_type: str
) -> None:
    upload(storage_client, buckets.input, "cat.jpg", JPEG)
    sent = send(function, buckets.input, "cat.jpg", event_type=event_type)
    line = assert_answer(sent, 200, "INFO", "skipped", "ignored_event")
    assert line["event_type"] == event_type
    assert object_names(storage_client, buckets.output) == []


@pytest.mark.parametrize("dropped", ["ce-id", "ce-type", "ce-source", "ce-specversion"])
def test_request_that_is_not_a_cloudevent(
    function: FunctionClient, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets, dropped: str
) -> None:
    """functions-framework answers 400 before the function runs; Eventarc never sends one."""
    data = live_data(storage_client, gcs, buckets)
    headers, body = binary_event(event_attributes(data), data)
    delivery = function.post({key: value for key, value in headers.items() if key != dropped}, body)
    assert delivery.status == 400
    assert delivery.logs == []
    assert object_names(storage_client, buckets.output) == []


# -- huge payloads, over HTTP ----------------------------------------------------------

MB = 1_000_000
HUGE = "Z" * (10 * MB)


@pytest.fixture
def served(serve: Callable[..., Served], gcs: FakeGcsServer) -> Served:
    return serve(gcs.url)


def assert_log_is_bounded(served: Served) -> None:
    output = served.process.output()
    assert "Z" * 200 not in output  # no payload in any line
    assert max(len(line) for line in output.splitlines()) < 8000


def test_huge_payload_of_unknown_fields_is_processed(
    served: Served, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    """A 10 MB body: Eventarc caps events at 512 KB, and functions-framework (Flask,
    gunicorn) sets no limit. Only the bucket, name and generation are trusted, and the
    generation is read from storage exactly, so unknown fields are ignored: processed."""
    generation = upload(storage_client, buckets.input, "cat.jpg", JPEG)
    attributes, data = event_for(gcs, buckets.input, "cat.jpg")
    status, line = served.deliver(attributes, {**data, "padding": HUGE})
    assert (status, line["outcome"], line["object"], line["generation"]) == (200, "created", "cat.jpg", str(generation))
    assert_thumbnail(storage_client, buckets, "cat.jpg_200x200.jpg", "cat.jpg", str(generation), (200, 200))
    assert object_names(storage_client, buckets.output) == ["cat.jpg_200x200.jpg"]
    assert_log_is_bounded(served)


def test_huge_payload_of_metadata_is_not_copied(
    served: Served, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    """10 MB of custom metadata (Cloud Storage allows 8 KiB): the upload is thumbnailed,
    and the thumbnail carries only its own five keys."""
    generation = upload(storage_client, buckets.input, "cat.jpg", JPEG)
    attributes, data = event_for(gcs, buckets.input, "cat.jpg")
    metadata = {f"key-{index}": "Z" * 10_000 for index in range(1000)}
    status, line = served.deliver(attributes, {**data, "metadata": metadata})
    assert (status, line["outcome"]) == (200, "created")
    assert_thumbnail(storage_client, buckets, "cat.jpg_200x200.jpg", "cat.jpg", str(generation), (200, 200))
    assert object_names(storage_client, buckets.output) == ["cat.jpg_200x200.jpg"]
    assert_log_is_bounded(served)


@pytest.mark.parametrize(
    ("field", "outcome", "reason"),
    [
        ("name", "failed", "malformed_event"),
        ("bucket", "failed", "malformed_event"),
        ("generation", "failed", "malformed_event"),
        ("type", "skipped", "ignored_event"),
        ("id", "created", None),  # only a label: the upload is thumbnailed
    ],
)
def test_huge_value_in_one_field_is_not_logged(
    served: Served,
    gcs: FakeGcsServer,
    storage_client: storage.Client,
    buckets: Buckets,
    field: str,
    outcome: str,
    reason: str | None,
) -> None:
    """A 10 MB name, bucket, generation, event type or event id (the last two in a
    structured event, the one way to send them in a body): a name, bucket or generation
    Cloud Storage cannot have is malformed, another type is ignored, and any id is only a
    label. The log line holds the start of the value and its length."""
    generation = upload(storage_client, buckets.input, "cat.jpg", JPEG)
    attributes, data = event_for(gcs, buckets.input, "cat.jpg")
    if field in ("type", "id"):
        status, line = served.deliver({**attributes, field: HUGE}, data, structured=True)
    else:
        status, line = served.deliver(attributes, {**data, field: HUGE})
    assert (status, line["outcome"], line.get("reason")) == (200, outcome, reason)
    logged_field = {"name": "object", "type": "event_type", "id": "event_id"}.get(field, field)
    assert line[logged_field].endswith(f"... ({len(HUGE)} characters)")
    written = ["cat.jpg_200x200.jpg"] if outcome == "created" else []
    assert object_names(storage_client, buckets.output) == written
    if written:
        assert_thumbnail(storage_client, buckets, written[0], "cat.jpg", str(generation), (200, 200))
    assert_log_is_bounded(served)
    # Still serving: the next event is processed.
    upload(storage_client, buckets.input, "dog.jpg", JPEG)
    assert served.deliver(*event_for(gcs, buckets.input, "dog.jpg"))[1]["outcome"] == "created"


# -- a new generation while the old one is processed ----------------------------------


@pytest.fixture
def gate(gcs: FakeGcsServer) -> Iterator[StorageGate]:
    with StorageGate(gcs.url) as started:
        yield started


@pytest.fixture
def gated(serve: Callable[..., Served], gate: StorageGate) -> Served:
    """The function served over HTTP, its storage requests through the gate."""
    return serve(gate.url)


def is_download_of(generation: int) -> Callable[[SeenRequest], bool]:
    return lambda seen: (
        request_kind(seen.method, seen.path) is RequestKind.DOWNLOAD and f"ifGenerationMatch={generation}" in seen.path
    )


def is_upload_for(generation: int) -> Callable[[SeenRequest], bool]:
    return lambda seen: (
        request_kind(seen.method, seen.path) is RequestKind.UPLOAD and str(generation).encode() in seen.body
    )


def upload_cat(
    client: storage.Client, gcs: FakeGcsServer, buckets: Buckets, colour: str
) -> tuple[int, tuple[dict[str, str], Any]]:
    """A new generation of cat.png, all ``colour``, and the event Eventarc sends for it."""
    generation = upload(client, buckets.input, "cat.png", encode(Image.new("RGB", (400, 400), colour), "PNG"))
    return generation, event_for(gcs, buckets.input, "cat.png")


def assert_blue_thumbnail_of(client: storage.Client, buckets: Buckets, generation: int) -> None:
    image = assert_thumbnail(client, buckets, "cat.png_200x200.jpg", "cat.png", str(generation), (200, 200))
    assert mean_colour(image, (50, 50, 150, 150))[2] > 200
    assert object_names(client, buckets.output) == ["cat.png_200x200.jpg"]


def in_background(served: Served, event: tuple[dict[str, str], Any]) -> Future[tuple[int, dict[str, Any]]]:
    pool = ThreadPoolExecutor(1)
    future = pool.submit(served.deliver, *event)
    pool.shutdown(wait=False)
    return future


def test_new_generation_uploaded_while_the_old_one_downloads(
    gated: Served, gate: StorageGate, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    old, old_event = upload_cat(storage_client, gcs, buckets, "red")
    download = gate.hold(is_download_of(old))
    first = in_background(gated, old_event)
    download.wait_until_reached()
    new, new_event = upload_cat(storage_client, gcs, buckets, "blue")
    download.release()
    status, line = first.result(timeout=60)
    assert (status, line["outcome"], line["reason"], line["generation"]) == (
        200,
        "skipped",
        "object_replaced",
        str(old),
    )
    assert object_names(storage_client, buckets.output) == []
    status, line = gated.deliver(*new_event)
    assert (status, line["outcome"], line["generation"]) == (200, "created", str(new))
    assert_blue_thumbnail_of(storage_client, buckets, new)


def test_new_generation_uploaded_between_the_old_ones_read_and_write(
    gated: Served, gate: StorageGate, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    """The old generation was read whole before the new one came: its thumbnail is written,
    then replaced when the new generation's event arrives."""
    old, old_event = upload_cat(storage_client, gcs, buckets, "red")
    write = gate.hold(is_upload_for(old))
    first = in_background(gated, old_event)
    write.wait_until_reached()
    new, new_event = upload_cat(storage_client, gcs, buckets, "blue")
    write.release()
    assert first.result(timeout=60)[1]["outcome"] == "created"
    status, line = gated.deliver(*new_event)
    assert (status, line["outcome"], line["generation"]) == (200, "replaced", str(new))
    assert_blue_thumbnail_of(storage_client, buckets, new)


def test_new_generations_event_overtakes_the_old_ones_write(
    gated: Served, gate: StorageGate, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    """Two deliveries in flight on one instance: the new generation's thumbnail is written
    while the old event waits to write; the old event then finds it and writes nothing."""
    old, old_event = upload_cat(storage_client, gcs, buckets, "red")
    write = gate.hold(is_upload_for(old))
    first = in_background(gated, old_event)
    write.wait_until_reached()
    new, new_event = upload_cat(storage_client, gcs, buckets, "blue")
    status, line = gated.deliver(*new_event)
    assert (status, line["outcome"], line["generation"]) == (200, "created", str(new))
    write.release()
    status, line = first.result(timeout=60)
    assert (status, line["severity"], line["outcome"], line["generation"]) == (200, "INFO", "superseded", str(old))
    assert line["bytes_out"] == 0
    assert_blue_thumbnail_of(storage_client, buckets, new)


def test_failure_records_of_two_generations_written_out_of_order(
    gated: Served, gate: StorageGate, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    """Both generations are bad, and the new one's record is written first: it stays, since
    the record is of the latest failing generation."""
    old = upload(storage_client, buckets.input, "notes.jpg", b"old text")
    old_event = event_for(gcs, buckets.input, "notes.jpg")
    write = gate.hold(is_upload_for(old))
    first = in_background(gated, old_event)
    write.wait_until_reached()
    new = upload(storage_client, buckets.input, "notes.jpg", b"new text")
    status, line = gated.deliver(*event_for(gcs, buckets.input, "notes.jpg"))
    assert (status, line["reason"], line["generation"]) == (200, "not_an_image", str(new))
    write.release()
    status, line = first.result(timeout=60)
    assert (status, line["outcome"], line["reason"], line["generation"]) == (200, "failed", "not_an_image", str(old))
    record = json.loads(storage_client.bucket(buckets.output).blob("failed/notes.jpg.json").download_as_bytes())
    assert record["generation"] == str(new)
    assert object_names(storage_client, buckets.output) == ["failed/notes.jpg.json"]
