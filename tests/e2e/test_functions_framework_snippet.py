"""docs/local-pipeline.md's snippet, run as it stands: main.py alone under
functions-framework, one Eventarc-shaped event sent with curl.

Only what differs between a reader's shell and this test is changed, in the open: the
env file is the test stack's, the port a free one, the bucket and the object's name
fresh ones, and the photo a generated one.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from google.cloud import storage

from localdev.function import ROOT
from localdev.processes import free_port
from localdev.stack import Stack
from tests.images import encode, photo_like

DOC = ROOT / "docs" / "local-pipeline.md"


def snippet() -> str:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- functions-framework:start -->\n```bash\n(.*?)```\n<!-- functions-framework:end -->", text, re.S
    )
    assert block, "the snippet's markers are gone from docs/local-pipeline.md"
    return block[1]


def test_the_documented_snippet_thumbnails_the_upload(
    stack: Stack, client: storage.Client, tmp_path: Path, unique: str
) -> None:
    if shutil.which("curl") is None or shutil.which("gcloud") is None:
        pytest.skip("curl and gcloud are needed to run the snippet as documented")
    photo = tmp_path / "source.jpg"
    photo.write_bytes(encode(photo_like(1200, 900), "JPEG"))
    port, bucket, name = str(free_port()), f"by-hand-{unique}", f"{unique}.jpg"
    script = (
        snippet()
        .replace("source .local/env", f"source {stack.paths.env_file}")
        .replace("cp photo.jpg ", f"cp {photo} ")
        .replace("photo.jpg", name)
        .replace("8090", port)
        .replace("by-hand", bucket)
    )
    assert (script.count(port), script.count(bucket), script.count(name)) == (3, 6, 4)  # each reader's value
    result = subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HTTP/1.1 200 OK" in result.stdout
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"message"')]
    [line] = [line for line in lines if line.get("event_id") == "1234567890123456"]
    assert (line["outcome"], line["bucket"], line["object"]) == ("created", bucket, name)
    thumbnail = client.bucket(stack.settings.output_bucket).get_blob(f"{name}_200x200.jpg")
    assert thumbnail is not None
    assert thumbnail.metadata["thumbnail-source-bucket"] == bucket
