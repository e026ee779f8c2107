"""The served function's output is JSON lines only, whatever it is fed (issue #12).

Decoders print what they make of damaged files: Pillow's warnings, Pillow's logging,
libtiff's errors, GLib's messages from inside libvips. Served by functions-framework in
its own process (stdout and stderr into one file, as Cloud Logging reads them), fed the
whole bad input catalogue, the hostile files of issue #12 and a slice of the fuzz corpus,
several events at once, the function must answer each with an acknowledgement (every one
of these is the file's fault or a thumbnail, never a retry) and write nothing that is not
one JSON object per line; what the decoders said rides on the event's own line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from google.cloud import storage

from localdev.gcs import FakeGcsServer
from tests.images import (
    avif_with_its_handler_last,
    cmyk_alpha_tiff,
    encode,
    jpeg_claiming,
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
from tests.integration.conftest import Buckets, Served, event_for
from tests.mutations import corpus

FUZZ_SLICE = 300


def hostile_files() -> dict[str, bytes]:
    jpeg = encode(photo_like(800, 600), "JPEG")
    png = encode(photo_like(400, 300), "PNG")
    return {
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 3],
        "truncated.png": png[:5000],
        "notes.jpg": b"this is a text file, not a JPEG\n" * 20,
        "vector.svg": svg_referencing("http://169.254.169.254/computeMetadata/v1/"),
        "bomb.png": png_bomb(60000, 60000),
        "huge.jpg": jpeg_claiming(65000, 65000),
        "garbled-exif.jpg": with_corrupt_exif(photo_like(300, 200)),
        "really-a-jpeg.png": jpeg,
        "dot.png": encode(photo_like(1, 1), "PNG"),
        "strip.png": encode(photo_like(1, 10000), "PNG"),
        "dimensionless-page.tif": tiff_with_a_dimensionless_page(),
        "tag-past-the-end.tif": tiff_with_a_tag_past_the_end(),
        "damaged-deflate.tif": tiff_with_damaged_deflate_data(),
        "cmyk-alpha.tif": cmyk_alpha_tiff(),
        "twelve-bit.jpg": twelve_bit_jpeg(),
        "handler-last.avif": avif_with_its_handler_last(photo_like(320, 240)),
        "grey16-key.png": png_16_bit_with_colour_key("L"),
        "rgb16-key.png": png_16_bit_with_colour_key("RGB"),
        **{f"fuzz/{case.name}.bin": case.data for case in corpus(FUZZ_SLICE, seed="served")},
    }


def test_whatever_it_is_fed_the_function_writes_json_lines_only(
    serve: Callable[..., Served], gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    files = hostile_files()
    bucket = storage_client.bucket(buckets.input)
    for name, data in files.items():
        bucket.blob(name).upload_from_string(data, content_type="application/octet-stream")
    served = serve(gcs.url)

    def send(name: str) -> tuple[str, int, dict[str, Any]]:
        attributes, data = event_for(gcs, buckets.input, name)
        attributes["id"] = uuid.uuid4().hex
        return (name, *served.deliver(attributes, data))

    with ThreadPoolExecutor(4) as pool:
        answers = {name: (status, line) for name, status, line in pool.map(send, files)}
    served.process.stop()  # every line flushed

    retried = {name: line.get("reason") for name, (status, line) in answers.items() if status != 200}
    assert not retried, retried
    output = served.process.output().splitlines()
    not_json = [line for line in output if not _is_one_json_object(line)]
    assert not not_json, not_json[:10]
    assert len([line for line in output if '"outcome"' in line]) == len(files)

    outcomes = {name: (line["outcome"], line.get("reason")) for name, (_, line) in answers.items()}
    assert outcomes["dimensionless-page.tif"] == ("failed", "corrupt_image")
    assert outcomes["twelve-bit.jpg"] == ("failed", "unsupported_variant")
    for valid in ("cmyk-alpha.tif", "handler-last.avif", "grey16-key.png", "rgb16-key.png", "tag-past-the-end.tif"):
        assert outcomes[valid] == ("created", None), valid
    # What the decoders said is on the event's own line, and only there.
    assert answers["tag-past-the-end.tif"][1]["warnings"]
    assert any(text.startswith("libtiff: ZIPDecode") for text in answers["damaged-deflate.tif"][1]["warnings"])
    assert "warnings" not in answers["really-a-jpeg.png"][1]


def _is_one_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
