"""Uploads through every client a user has, through the whole local stack."""

from __future__ import annotations

import io
import json
import shlex
import sys
import urllib.request
from pathlib import Path

import pytest
from google.cloud import storage
from PIL import Image

from localdev.stack import Stack
from tests.e2e.conftest import EventarcRecords, in_local_shell, require_tool, wait_for, wait_for_object
from tests.images import encode, photo_like


def _photo(path: Path, size: tuple[int, int] = (1200, 800)) -> Path:
    path.write_bytes(encode(photo_like(*size), "JPEG"))
    return path


def _thumbnail_size(client: storage.Client, bucket: str, name: str) -> tuple[int, int]:
    blob = wait_for_object(client, bucket, name)
    with Image.open(io.BytesIO(blob.download_as_bytes())) as image:
        return image.size


def _gallery(stack: Stack) -> dict[str, dict[str, object]]:
    assert stack.web is not None
    with urllib.request.urlopen(f"{stack.web.url}api/gallery", timeout=10) as response:
        return {item["name"]: item for item in json.load(response)["items"]}


def test_python_client_after_sourcing_the_env_file(
    stack: Stack, client: storage.Client, tmp_path: Path, unique: str
) -> None:
    photo = _photo(tmp_path / "photo.jpg")
    program = (
        "from google.cloud import storage; import os; "
        f"storage.Client().bucket(os.environ['INPUT_BUCKET']).blob('py-{unique}.jpg').upload_from_filename('{photo}')"
    )
    result = in_local_shell(stack, f"{shlex.quote(sys.executable)} -c {shlex.quote(program)}", tmp_path)
    assert result.returncode == 0, result.stderr
    assert _thumbnail_size(client, stack.settings.output_bucket, f"py-{unique}.jpg_200x200.jpg") == (200, 200)


@pytest.mark.parametrize(
    ("tool", "copy", "listing"),
    [("gsutil", "gsutil -q cp", "gsutil ls"), ("gcloud", "gcloud storage cp", "gcloud storage ls")],
)
def test_the_cli_uploads_and_lists(
    stack: Stack, client: storage.Client, tmp_path: Path, unique: str, tool: str, copy: str, listing: str
) -> None:
    require_tool(tool)
    _photo(tmp_path / "photo.jpg")
    upload = in_local_shell(stack, f"{copy} photo.jpg gs://$INPUT_BUCKET/{tool}-{unique}.jpg", tmp_path)
    assert upload.returncode == 0, upload.stderr
    thumbnail = f"{tool}-{unique}.jpg_200x200.jpg"
    assert _thumbnail_size(client, stack.settings.output_bucket, thumbnail) == (200, 200)
    listed = in_local_shell(stack, f"{listing} gs://$OUTPUT_BUCKET/", tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert f"gs://{stack.settings.output_bucket}/{thumbnail}" in listed.stdout.split()


def test_the_env_file_leaves_the_users_own_configuration_alone(stack: Stack, tmp_path: Path) -> None:
    exports = stack.exports()
    assert Path(exports["CLOUDSDK_CONFIG"]).is_relative_to(stack.paths.root)
    assert Path(exports["BOTO_CONFIG"]).is_relative_to(stack.paths.root)
    for url in (exports["STORAGE_EMULATOR_HOST"], exports["THUMBNAILER_WEB_URL"], exports["THUMBNAILER_FUNCTION_URL"]):
        assert url.startswith("http://127.0.0.1:")


def test_a_bad_file_is_acknowledged_with_its_reason(stack: Stack, client: storage.Client, unique: str) -> None:
    name = f"bad-{unique}.jpg"
    client.bucket(stack.settings.input_bucket).blob(name).upload_from_string(
        b"not a picture", content_type="image/jpeg"
    )
    record = wait_for_object(client, stack.settings.output_bucket, f"failed/{name}.json")
    assert json.loads(record.download_as_bytes())["reason"] == "not_an_image"
    item = wait_for(lambda: _gallery(stack).get(name, {}).get("status") == "failed" and _gallery(stack)[name], name)
    assert isinstance(item, dict)
    assert item["failure"]["reason"] == "not_an_image"
    assert client.bucket(stack.settings.output_bucket).get_blob(f"{name}_200x200.jpg") is None


def test_an_event_is_redelivered_until_the_function_is_back(
    stack: Stack, client: storage.Client, eventarc_records: EventarcRecords, unique: str
) -> None:
    assert stack.function is not None
    name = f"while-down-{unique}.jpg"
    stack.function.stop()
    try:
        client.bucket(stack.settings.input_bucket).blob(name).upload_from_string(encode(photo_like(640, 480), "JPEG"))
        wait_for(lambda: len(eventarc_records.for_object(name)) >= 3, "three failed deliveries")
    finally:
        stack.function.start()
    wait_for_object(client, stack.settings.output_bucket, f"{name}_200x200.jpg")
    # The thumbnail is written before the function answers, so the stand-in logs the delivery a moment later.
    wait_for(lambda: eventarc_records.for_object(name)[-1].getMessage() == "delivered", "the delivery record")
    messages = [record.getMessage() for record in eventarc_records.for_object(name)]
    assert all(message == "delivery failed; will redeliver" for message in messages[:-1])
    assert eventarc_records.for_object(name)[-1].attempts == len(messages)  # type: ignore[attr-defined]


def test_an_event_never_delivered_is_dead_lettered_and_shown(
    stack: Stack, client: storage.Client, eventarc_records: EventarcRecords, unique: str
) -> None:
    assert stack.function is not None
    name = f"dead-{unique}.jpg"
    stack.function.stop()
    try:
        blob = client.bucket(stack.settings.input_bucket).blob(name)
        blob.upload_from_string(encode(photo_like(640, 480), "JPEG"))
        # The window is 24 h scaled by 0.0002: about 17 s.
        wait_for(
            lambda: any(r.getMessage().startswith("dead-lettered") for r in eventarc_records.for_object(name)),
            "the dead letter",
            deadline=60,
        )
    finally:
        stack.function.start()
    [path] = [
        p for p in stack.paths.dead_letters.glob("*.json") if json.loads(p.read_text())["event"]["data"]["name"] == name
    ]
    record = json.loads(path.read_text())
    assert record["event"]["attributes"]["type"] == "google.cloud.storage.object.v1.finalized"
    assert record["event"]["data"]["generation"] == str(blob.generation)
    assert record["attempts"] > 10
    assert record["last_status"] is None  # nothing answered: the function was down
    item = _gallery(stack)[name]
    assert item["status"] == "failed"
    assert item["failure"]["reason"] == "dead-lettered"  # type: ignore[index]
