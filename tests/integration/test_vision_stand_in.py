"""The local Vision API speaks Google's protocol: plain JSON as the REST API documents it,
enums as names or as the numbers google-cloud-vision's REST transport sends, limits and
errors included. (The function itself calls REST, so the client library is not installed:
being typed, it would also blind mypy to the untyped google.cloud.storage beside it.)"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import storage
from PIL import Image, ImageDraw

from localdev.gcs import FakeGcsServer
from localdev.vision import MAX_REQUEST_BYTES, VisionStandIn
from tests.images import encode
from tests.integration.conftest import Buckets
from tests.integration.helpers import upload


@pytest.fixture
def stand_in(gcs: FakeGcsServer) -> Iterator[VisionStandIn]:
    server = VisionStandIn(storage_url=gcs.url).start()
    yield server
    server.stop()


def post(url: str, body: bytes, query: str = "") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/v1/images:annotate{query}", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def red_with_white() -> bytes:
    image = Image.new("RGB", (400, 300), (210, 25, 25))
    ImageDraw.Draw(image).rectangle((0, 0, 399, 99), fill=(250, 250, 250))
    return encode(image, "PNG")


def annotate_body(*images: dict[str, Any], features: list[dict[str, Any]] | None = None) -> bytes:
    default = [{"type": "LABEL_DETECTION", "maxResults": 5}, {"type": "SAFE_SEARCH_DETECTION"}]
    asked = default if features is None else features
    return json.dumps({"requests": [{"image": image, "features": asked} for image in images]}).encode()


def test_enums_as_numbers_as_the_python_client_sends_them(stand_in: VisionStandIn) -> None:
    """google-cloud-vision's REST transport posts ``"type": 4`` (LABEL_DETECTION) and ``6``
    (SAFE_SEARCH_DETECTION) with ``$alt=json;enum-encoding=int``, and reads numbers back."""
    content = base64.b64encode(red_with_white()).decode()
    body = annotate_body({"content": content}, features=[{"type": 4, "maxResults": 3}, {"type": 6}])
    status, answer = post(stand_in.url, body, query="?%24alt=json%3Benum-encoding%3Dint")
    assert status == 200
    [response] = answer["responses"]
    descriptions = [label["description"] for label in response["labelAnnotations"]]
    assert descriptions[:2] == ["Red", "White"]
    assert len(descriptions) <= 3
    assert all(label["mid"].startswith("/local/") for label in response["labelAnnotations"])
    assert 0.8 < response["labelAnnotations"][0]["score"] < 0.84  # the root of two thirds of the pixels
    assert response["safeSearchAnnotation"]["adult"] == 1  # VERY_UNLIKELY
    assert response["safeSearchAnnotation"]["violence"] >= 4  # blood-red pixels: LIKELY or more
    [[received]] = stand_in.calls
    assert received.features == ("LABEL_DETECTION", "SAFE_SEARCH_DETECTION")


def test_likelihoods_are_names_in_plain_json(stand_in: VisionStandIn) -> None:
    content = base64.b64encode(red_with_white()).decode()
    status, body = post(stand_in.url, annotate_body({"content": content}))
    assert status == 200
    assert body["responses"][0]["safeSearchAnnotation"]["adult"] == "VERY_UNLIKELY"


def test_an_image_from_the_storage_emulator(
    stand_in: VisionStandIn, storage_client: storage.Client, buckets: Buckets
) -> None:
    upload(storage_client, buckets.input, "red.png", red_with_white(), "image/png")
    status, body = post(stand_in.url, annotate_body({"source": {"gcsImageUri": f"gs://{buckets.input}/red.png"}}))
    assert status == 200
    assert body["responses"][0]["labelAnnotations"][0]["description"] == "Red"
    assert stand_in.calls[0][0].source == "gcsImageUri"


def test_up_to_sixteen_images_each_with_its_own_answer(stand_in: VisionStandIn) -> None:
    good = {"content": base64.b64encode(red_with_white()).decode()}
    bad = {"content": base64.b64encode(b"not an image").decode()}
    status, body = post(stand_in.url, annotate_body(good, bad))
    assert status == 200  # per-image errors: the batch itself succeeded
    first, second = body["responses"]
    assert "labelAnnotations" in first
    assert second == {"error": {"code": 3, "message": "Bad image data."}}

    status, body = post(stand_in.url, annotate_body(*[good] * 17))
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"


def test_limits_and_malformed_requests_answer_google_error_shapes(
    stand_in: VisionStandIn, storage_client: storage.Client, buckets: Buckets
) -> None:
    status, body = post(stand_in.url, b"x" * (MAX_REQUEST_BYTES + 1))
    assert (status, body["error"]["code"]) == (400, 400)
    assert "payload size exceeds the limit" in body["error"]["message"]

    assert post(stand_in.url, b"{not json")[0] == 400
    status, body = post(stand_in.url, annotate_body({"content": "aGk="}, features=[]))
    assert (status, body["error"]["message"]) == (400, "No feature specified.")

    # Over 20 MB: only an image by reference can be (base64 content breaks the 10 MB first).
    upload(storage_client, buckets.input, "huge.bin", b"\0" * (20 * 1024 * 1024 + 1), "image/png")
    status, body = post(stand_in.url, annotate_body({"source": {"imageUri": f"gs://{buckets.input}/huge.bin"}}))
    assert status == 200
    assert body["responses"][0]["error"]["code"] == 3
    assert "exceeds the limit" in body["responses"][0]["error"]["message"]


def test_injected_faults_answer_like_google(stand_in: VisionStandIn) -> None:
    stand_in.fail_next(503)
    content = base64.b64encode(red_with_white()).decode()
    status, body = post(stand_in.url, annotate_body({"content": content}))
    assert (status, body["error"]["status"]) == (503, "UNAVAILABLE")
    assert post(stand_in.url, annotate_body({"content": content}))[0] == 200
    assert (stand_in.refused, len(stand_in.calls)) == (1, 1)
