"""The function as it runs in production: functions-framework in its own process, over HTTP."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from PIL import Image

from localdev.events import binary_event
from localdev.function import ROOT
from localdev.gcs import FakeGcsServer
from tests.images import encode, photo_like, psnr
from tests.integration.conftest import Buckets, FunctionProcess, event_for

Serve = Callable[[dict[str, str]], FunctionProcess]


def test_twelve_megapixel_jpeg_over_http(
    serve_function: Serve, gcs: FakeGcsServer, storage_client: storage.Client, buckets: Buckets
) -> None:
    source = photo_like(4000, 3000)
    storage_client.bucket(buckets.input).blob("big/photo.jpg").upload_from_string(
        encode(source, "JPEG", quality=90), content_type="image/jpeg"
    )
    served = serve_function({"OUTPUT_BUCKET": buckets.output, "STORAGE_EMULATOR_HOST": gcs.url})
    assert served.post(*binary_event(*event_for(gcs, buckets.input, "big/photo.jpg"))) == 200
    data = storage_client.bucket(buckets.output).blob("big/photo.jpg_200x200.jpg").download_as_bytes()
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("JPEG", (200, 200))
    reference = source.resize((200, 200), Image.Resampling.LANCZOS, box=(500, 0, 3500, 3000))
    ceiling = psnr(Image.open(io.BytesIO(encode(reference, "JPEG", quality=85))), reference)
    assert psnr(image, reference) >= ceiling - 0.5
    [record] = [line for line in served.log_records() if "outcome" in line]
    assert (record["severity"], record["outcome"], record["object"]) == ("INFO", "created", "big/photo.jpg")


def test_event_is_not_acknowledged_while_storage_is_down(serve_function: Serve, tmp_path: Path) -> None:
    """Storage stops mid-flight: every delivery fails with 500 until it is back, then one succeeds."""
    with FakeGcsServer(tmp_path / "data", tmp_path / "gcs.log", backend="filesystem") as own_gcs:  # survives stop
        own_gcs.create_bucket("in-outage")
        own_gcs.create_bucket("out-outage")
        client = storage.Client(
            project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": own_gcs.url}
        )
        client.bucket("in-outage").blob("cat.jpg").upload_from_string(encode(photo_like(800, 600), "JPEG"))
        event = binary_event(*event_for(own_gcs, "in-outage", "cat.jpg"))
        served = serve_function(
            {"OUTPUT_BUCKET": "out-outage", "STORAGE_EMULATOR_HOST": own_gcs.url, "STORAGE_RETRY_SECONDS": "1"}
        )
        own_gcs.stop()
        assert served.post(*event) == 500
        assert served.post(*event) == 500
        own_gcs.start()
        assert served.post(*event) == 200
        assert [blob.name for blob in client.list_blobs("out-outage")] == ["cat.jpg_200x200.jpg"]
    outcomes = [(line["outcome"], line.get("reason")) for line in served.log_records() if "outcome" in line]
    assert outcomes == [("retry", "storage_unavailable"), ("retry", "storage_unavailable"), ("created", None)]


def test_a_bad_setting_stops_the_function_at_cold_start(gcs: FakeGcsServer) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "functions_framework", "--target", "process_image",
            "--signature-type", "cloudevent", "--source", str(ROOT / "main.py"), "--port", "0",
        ],
        env={"OUTPUT_BUCKET": "thumbs", "THUMBNAIL_SIZES": "200 by 200", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )  # fmt: skip
    assert result.returncode != 0
    assert "THUMBNAIL_SIZES: '200 by 200' is not WIDTHxHEIGHT" in result.stderr
